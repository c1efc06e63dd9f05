"""LightGBM boosters (and its scikit-learn wrappers), saved as LightGBM model text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from modelcycle.packaging.flavors._base import BoosterPredictor, Flavor, Predictor

_FILE = "model.txt"


class _LightGBMPredictor(BoosterPredictor):
    library = "LightGBM"
    classifier_objectives = ("binary", "multiclass", "cross_entropy")

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        matrix = _matrix(frame, text, self.booster.pandas_categorical or [])
        if matrix is not None:
            return np.asarray(self.booster.predict(matrix))
        if self.booster.pandas_categorical:
            # Trained on pandas `category` columns: LightGBM maps values to its codes only
            # for columns of that dtype, so the signature's text columns become categories.
            frame = frame.astype(dict.fromkeys(text, "category"))
        return np.asarray(self.booster.predict(frame))


def _matrix(frame: pd.DataFrame, text: list[str], categories: list[list[Any]]) -> Any:
    """The float64 matrix LightGBM makes of ``frame`` itself, made directly (or ``None``).

    As LightGBM's own DataFrame path does: the i-th text column becomes the codes of
    its values among the i-th list of training categories (NaN for a missing or unseen
    value), and every column is read as float64 (its type when some column is int64 or
    float64; other cases are left to LightGBM). Several times faster for small frames.
    """
    numeric = [c for c in frame.columns if c not in text]
    if len(text) != len(categories) or not numeric:
        return None
    if any(frame[c].dtype not in (np.float64, np.int64) for c in numeric):
        return None
    matrix = np.empty(frame.shape, dtype=np.float64)
    known = iter(categories)
    for index, name in enumerate(frame.columns):
        if name in text:
            codes = pd.Index(next(known)).get_indexer(frame[name])
            matrix[:, index] = np.where(codes < 0, np.nan, codes)
        else:
            matrix[:, index] = frame[name].to_numpy(dtype=np.float64)
    return matrix


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster`` and ``LGBMClassifier``/``LGBMRegressor`` (model text format)."""

    name = "lightgbm"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return isinstance(model, lgb.Booster | lgb.LGBMModel)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        booster = model.booster_ if isinstance(model, lgb.LGBMModel) else model
        (folder / _FILE).write_text(booster.model_to_string())
        objective = str(booster.params.get("objective") or _objective_from_text(booster))
        meta: dict[str, Any] = {"objective": objective}
        classes = getattr(model, "classes_", None)
        if classes is not None:
            meta["classes"] = np.asarray(classes).tolist()
        return meta

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        booster = lgb.Booster(model_str=(folder / _FILE).read_text())
        return _LightGBMPredictor(booster, meta)

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        booster = model.booster_ if isinstance(model, lgb.LGBMModel) else model
        own = list(booster.feature_name())
        generic = [f"Column_{i}" for i in range(len(own))]
        # LightGBM stores names with spaces and JSON-special characters replaced by '_'.
        if own != [_lightgbm_name(n) for n in names] and own != generic:
            return [f"the booster was trained on columns {own}, the signature has {names}"]
        if len(own) != len(names):
            return [
                f"the booster was trained on {len(own)} columns, the signature has {len(names)}"
            ]
        return []


def _lightgbm_name(name: str) -> str:
    return re.sub(r"[\s\"',:\[\]{}]", "_", name)


def _objective_from_text(booster: lgb.Booster) -> str:
    for line in booster.model_to_string().splitlines()[:20]:
        if line.startswith("objective="):
            return line.split("=", 1)[1].split(" ")[0]
    return "regression"
