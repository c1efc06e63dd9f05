"""XGBoost boosters (and its scikit-learn wrappers), saved in XGBoost's JSON format.

XGBoost is optional: this flavor accepts models only when ``xgboost`` is importable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.packaging.flavors._base import BoosterPredictor, Flavor, Predictor

_FILE = "model.json"


class _XGBoostPredictor(BoosterPredictor):
    library = "XGBoost"
    classifier_objectives = ("binary:", "multi:")

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        import xgboost as xgb

        return np.asarray(self.booster.predict(xgb.DMatrix(frame)))


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` and ``XGBClassifier``/``XGBRegressor`` (JSON model format)."""

    name = "xgboost"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        if (
            not type(model).__module__.startswith("xgboost")
            or importlib.util.find_spec("xgboost") is None
        ):
            return False
        import xgboost as xgb

        return isinstance(model, xgb.Booster | xgb.XGBModel)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        import xgboost as xgb

        booster = model.get_booster() if isinstance(model, xgb.XGBModel) else model
        booster.save_model(str(folder / _FILE))
        config = booster.save_config()
        objective = _objective(config)
        meta: dict[str, Any] = {"objective": objective}
        classes = getattr(model, "classes_", None)
        if classes is not None:
            meta["classes"] = np.asarray(classes).tolist()
        return meta

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(folder / _FILE))
        return _XGBoostPredictor(booster, meta)

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        import xgboost as xgb

        booster = model.get_booster() if isinstance(model, xgb.XGBModel) else model
        own = booster.feature_names
        if own is not None and list(own) != names:
            return [f"the booster was trained on columns {list(own)}, the signature has {names}"]
        return []


def _objective(config: str) -> str:
    import json

    learner = json.loads(config).get("learner", {})
    return str(learner.get("objective", {}).get("name", "reg:squarederror"))
