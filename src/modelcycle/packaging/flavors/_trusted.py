"""Models of the caller's own classes, accepted only when the caller vouches for them.

Nothing is pickled. The model is written with skops, which rebuilds objects from
JSON and arrays; the names beyond the allow-list of :mod:`modelcycle.learners` that the
file needs (the caller's own classes and functions) are recorded, exactly, in the
manifest when the caller saves with ``trusted=True``. Loading needs the same trust and
refuses a file that names anything beyond that recorded list. Building those types still
runs their code (``__init__``, ``__setstate__``), which is why trust is required and audited.

Trust has limits that no manifest can lift (:func:`modelcycle.learners._skops.trust_problem`):
nothing from the standard library (``builtins.exec``, ``getattr``, ``open``, ``os``,
``subprocess``, ``importlib``, ``functools.partial``, ``operator``) and no function,
method or constructor call of a library (``numpy.load``, ``scipy.io.savemat``) is ever
accepted, at saving or at loading: a caller vouches for their own code, not for a file
that borrows the interpreter's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import IntegrityError, ValidationError
from modelcycle.learners import dump_skops, load_skops, skops_types_to_trust
from modelcycle.packaging.flavors._base import Flavor, Predictor

_FILE = "model.skops"


class _TrustedPredictor(Predictor):
    def __init__(self, model: Any) -> None:
        self.model = model
        classes = getattr(model, "classes_", None)
        self.classes = tuple(np.asarray(classes).tolist()) if classes is not None else None

    @property
    def native(self) -> Any:
        return self.model

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
            dump_skops(model, path)
            foreign = skops_types_to_trust(path)
        except IntegrityError as exc:
            path.unlink(missing_ok=True)
            raise ValidationError(
                f"a {type(model).__qualname__} cannot be saved even as trusted: {exc.message}; "
                "wrap library or standard-library functions in a function of your own"
            ) from None
        except Exception as exc:  # skops names the object it cannot represent
            path.unlink(missing_ok=True)
            raise ValidationError(
                f"a {type(model).__qualname__} cannot be saved without pickle: {exc}"
            ) from exc
        return {
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "trusted_types": foreign,
        }

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        recorded = meta.get("trusted_types", [])
        if not isinstance(recorded, list) or not all(isinstance(t, str) for t in recorded):
            raise IntegrityError(
                f"the manifest's meta.trusted_types is {recorded!r}; expected a list of type names"
            )
        return _TrustedPredictor(load_skops(folder / _FILE, trusted=recorded))
