"""Models of the caller's own classes, accepted only when the caller vouches for them.

Nothing is pickled. The model is written with skops, which rebuilds objects from
JSON and arrays; the types outside scikit-learn, NumPy and SciPy that the file
needs are listed in the manifest when the caller saves with ``trusted=True``.
Loading needs the same trust and refuses a file that names any type beyond that
recorded list. Building those types still runs their code (``__init__``,
``__setstate__``), which is why trust is required and audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from modelcycle.core import IntegrityError, ValidationError
from modelcycle.packaging.flavors._base import Flavor, Predictor
from modelcycle.packaging.flavors._sklearn import TRUSTED_PREFIXES

_FILE = "model.skops"


class _TrustedPredictor(Predictor):
    def __init__(self, model: Any) -> None:
        self.model = model
        classes = getattr(model, "classes_", None)
        self.classes = tuple(np.asarray(classes).tolist()) if classes is not None else None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self.model, "predict_proba"):
            raise TypeError(f"{type(self.model).__name__} has no predict_proba")
        return np.asarray(self.model.predict_proba(frame))


class TrustedFlavor(Flavor):
    """Anything with ``predict`` that skops can rebuild, with its own types trusted.

    ``"pickle"`` is accepted as another name for this flavor (its former name): a
    model that could only be pickled is now held this way instead.
    """

    name = "trusted"
    needs_trust = True

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return hasattr(model, "predict")

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        path = folder / _FILE
        try:
            sio.dump(model, path)
        except Exception as exc:  # skops names the object it cannot represent
            raise ValidationError(
                f"a {type(model).__qualname__} cannot be saved without pickle: {exc}"
            ) from exc
        foreign = sorted(
            t for t in sio.get_untrusted_types(file=path) if not t.startswith(TRUSTED_PREFIXES)
        )
        return {
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "trusted_types": foreign,
        }

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        path = folder / _FILE
        needed = sio.get_untrusted_types(file=path)
        recorded = set(meta.get("trusted_types", []))
        unexpected = sorted(
            t for t in needed if not t.startswith(TRUSTED_PREFIXES) and t not in recorded
        )
        if unexpected:
            raise IntegrityError(
                f"model file {_FILE!r} names types {unexpected[:10]} that were not trusted when "
                "the model was saved; refusing to load it"
            )
        return _TrustedPredictor(sio.load(path, trusted=needed))
