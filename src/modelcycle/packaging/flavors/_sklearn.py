"""scikit-learn estimators and pipelines, saved with skops (never plain pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from modelcycle.core import IntegrityError
from modelcycle.packaging.flavors._base import Flavor, Predictor

#: Modules whose types a skops file may contain; anything else is refused on load.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "lightgbm.")
_FILE = "model.skops"


def safe_skops_load(path: Path) -> Any:
    """Load a skops file whose every type lies in :data:`TRUSTED_PREFIXES`.

    Raises
    ------
    IntegrityError
        The file names a type outside the allow-list (it could run foreign code).
    """
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise IntegrityError(
            f"model file {path.name!r} contains types outside the trusted libraries: "
            f"{sorted(foreign)[:10]}; refusing to load it (register such models with "
            "trusted=True only if you trust their source)"
        )
    return sio.load(path, trusted=untrusted)


class _SklearnPredictor(Predictor):
    def __init__(self, model: Any) -> None:
        self.model = model
        self.by_name = hasattr(model, "feature_names_in_")
        classes = getattr(model, "classes_", None)
        self.classes = tuple(np.asarray(classes).tolist()) if classes is not None else None

    def _inputs(self, frame: pd.DataFrame) -> Any:
        return frame if self.by_name else frame.to_numpy()

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
        sio.dump(model, folder / _FILE)
        return {"estimator": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        return _SklearnPredictor(safe_skops_load(folder / _FILE))

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
