"""scikit-learn estimators and pipelines, saved with skops (never plain pickle).

Loading goes through :func:`modelcycle.learners.load_skops`: every type the file names
must be on its exact allow-list before anything is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import IntegrityError, ValidationError
from modelcycle.learners import check_skops, dump_skops, load_skops
from modelcycle.packaging.flavors._base import Flavor, Predictor

_FILE = "model.skops"


class _SklearnPredictor(Predictor):
    def __init__(self, model: Any) -> None:
        self.model = model
        self.by_name = hasattr(model, "feature_names_in_")
        classes = getattr(model, "classes_", None)
        self.classes = tuple(np.asarray(classes).tolist()) if classes is not None else None

    def _inputs(self, frame: pd.DataFrame) -> Any:
        return frame if self.by_name else frame.to_numpy()

    @property
    def native(self) -> Any:
        return self.model

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(self._inputs(frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self.model, "predict_proba"):
            raise TypeError(f"{type(self.model).__name__} has no predict_proba")
        return np.asarray(self.model.predict_proba(self._inputs(frame)))


class SklearnFlavor(Flavor):
    """Any scikit-learn estimator or pipeline (``skops`` format)."""

    name = "sklearn"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        module = type(model).__module__
        return module.startswith("sklearn.") and hasattr(model, "predict")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        path = folder / _FILE
        dump_skops(model, path)
        try:
            check_skops(path)  # refuse now what could never be loaded back
        except IntegrityError as exc:
            path.unlink()
            raise ValidationError(
                f"this {type(model).__qualname__} cannot be saved with the sklearn flavor: "
                f"{exc.message}"
            ) from None
        return {"estimator": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        return _SklearnPredictor(load_skops(folder / _FILE))

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        own = getattr(model, "feature_names_in_", None)
        if own is not None:
            own_names = [str(n) for n in own]
            if own_names != names:
                return [f"the model was fitted on columns {own_names}, the signature has {names}"]
            return []
        count = getattr(model, "n_features_in_", None)
        if count is not None and count != len(names):
            return [f"the model was fitted on {count} columns, the signature has {len(names)}"]
        return []
