"""Models that only pickle can save: accepted only when explicitly trusted."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.packaging.flavors._base import Flavor, Predictor

_FILE = "model.pkl"


class _PickledPredictor(Predictor):
    def __init__(self, model: Any) -> None:
        self.model = model
        classes = getattr(model, "classes_", None)
        self.classes = tuple(np.asarray(classes).tolist()) if classes is not None else None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame))


class PickleFlavor(Flavor):
    """Anything with ``predict`` — saved with pickle, so loading runs the model's code.

    The package and the model version record ``trusted=True``; loading without
    trust is refused before the file is opened.
    """

    name = "pickle"
    needs_trust = True

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return hasattr(model, "predict")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        (folder / _FILE).write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        return {"class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        # Reached only for packages recorded as trusted (checked by the caller).
        return _PickledPredictor(pickle.loads((folder / _FILE).read_bytes()))
