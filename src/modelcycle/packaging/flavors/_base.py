"""The flavor contract: how one kind of model is saved safely and loaded back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd


class Predictor(ABC):
    """A loaded model, called with a DataFrame already checked against the signature."""

    #: Class labels in ``predict_proba`` column order (``None`` for regressors).
    classes: tuple[Any, ...] | None = None

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (classifiers) or values (regressors)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class."""
        raise TypeError(f"{type(self).__name__} does not give class probabilities")


class Flavor(ABC):
    """Saves and loads one family of models.

    ``save`` must write only safe formats (text, JSON, skops) unless the flavor is
    the explicit ``pickle`` flavor, which :func:`load` refuses unless trusted.
    """

    name: ClassVar[str]
    #: Whether loading executes arbitrary code (only the pickle flavor).
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

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        """How the model's own idea of its inputs disagrees with the signature's ``names``."""
        return []
