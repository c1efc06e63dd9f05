"""The contract every fitted column encoder of a :class:`Preprocessor` follows.

An encoder is fitted state, not an estimator: it is built already fitted by its
module's ``fit_*`` function (or by :meth:`Encoder.from_dict`), never changes
afterwards, and so may be shared by concurrent ``transform`` calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import ValidationError
from modelcycle.features._table import Table


class Encoder(ABC):
    """Turns some input columns into a fixed block of float64 output columns."""

    #: Stable name stored in the saved form, used to pick the class on load.
    kind: ClassVar[str]

    @property
    @abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the output columns, in order."""

    @property
    def width(self) -> int:
        """Number of output columns."""
        return len(self.feature_names)

    @abstractmethod
    def transform_into(self, table: Table, out: NDArray[np.float64]) -> None:
        """Write the encoded block of every row of ``table`` into ``out``, shape ``(n, width)``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as a JSON-ready dict (with a ``"kind"`` key)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoder:
        """Rebuild an encoder from :meth:`to_dict` output."""


def float_list(values: NDArray[np.float64]) -> list[float]:
    """Return an array as a list of Python floats (exact through JSON: repr round-trips)."""
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def require(data: dict[str, Any], key: str, owner: str) -> Any:
    """Return ``data[key]`` or raise a ValidationError naming the saved encoder."""
    try:
        return data[key]
    except KeyError:
        raise ValidationError(
            f"saved {owner} state has no {key!r}; expected the output of to_dict()"
        ) from None
