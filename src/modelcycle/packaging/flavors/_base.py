"""The flavor contract: how one kind of model is saved safely and loaded back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelcycle.packaging._signature import Signature


class Predictor(ABC):
    """A loaded model, called with a DataFrame already checked against the signature."""

    #: Class labels in ``predict_proba`` column order (``None`` for regressors).
    classes: tuple[Any, ...] | None = None

    @property
    def native(self) -> Any:
        """The library's own model object (checked against the signature on load)."""
        return None

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (classifiers) or values (regressors)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class."""
        raise TypeError(f"{type(self).__name__} does not give class probabilities")


class BoosterPredictor(Predictor):
    """A gradient-boosting booster that outputs raw scores: one probability column for
    binary objectives (the positive class), one per class for multiclass ones.

    Subclasses say which objectives are classifiers and how to get the raw output.
    """

    library: str = "booster"
    classifier_objectives: tuple[str, ...] = ()

    def __init__(self, booster: Any, meta: dict[str, Any]) -> None:
        self.booster = booster
        self.objective = str(meta.get("objective", ""))
        classes = meta.get("classes")
        self.classes = tuple(classes) if classes is not None else None

    @property
    def native(self) -> Any:
        return self.booster

    @property
    def is_classifier(self) -> bool:
        """Whether the objective gives class probabilities."""
        return self.objective.startswith(self.classifier_objectives)

    @abstractmethod
    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's output for ``frame``."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.is_classifier:
            raise TypeError(
                f"a {self.library} {self.objective!r} model gives no class probabilities"
            )
        raw: np.ndarray = np.asarray(self.raw(frame))
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.is_classifier:
            return np.asarray(self.raw(frame))
        codes: np.ndarray = np.asarray(self.predict_proba(frame).argmax(axis=1))
        if self.classes is None:
            return codes
        labels: np.ndarray = np.asarray(self.classes, dtype=object)
        return np.asarray(labels[codes])


class Flavor(ABC):
    """Saves and loads one family of models.

    ``save`` must write only safe formats (text, JSON, skops) unless the flavor is
    the explicit ``trusted`` flavor (the caller's own classes, via skops), which
    :func:`load` refuses unless trusted. Nothing is ever unpickled.
    """

    name: ClassVar[str]
    #: Whether loading builds the caller's own classes (only the trusted flavor).
    needs_trust: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def accepts(cls, model: Any) -> bool:
        """Whether this flavor knows how to save ``model``."""

    @abstractmethod
    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write the model's files into ``folder``; return metadata for the manifest."""

    @abstractmethod
    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        """Load a model saved by :meth:`save` (files already verified)."""

    def complete(self, meta: dict[str, Any], folder: Path, signature: Signature) -> dict[str, Any]:
        """The manifest's metadata once the signature is known (a flavor may check more)."""
        return meta

    def load_signed(self, folder: Path, meta: dict[str, Any], signature: Signature) -> Predictor:
        """Load with the manifest's signature at hand (for models that read it, like ONNX)."""
        return self.load(folder, meta)

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        """How the model's own idea of its inputs disagrees with the signature's ``names``."""
        return []
