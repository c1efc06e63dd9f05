"""The contract every drift detector follows, and the result it returns.

A detector is an estimator (scikit-learn's contract): its keyword-only constructor only stores
its arguments; :meth:`DriftDetector.fit` learns from a reference — a column of the
training profile (:class:`~modelcycle.data.ColumnProfile`) or the reference values
themselves — and returns the detector; learned state ends in ``_``. Then
:meth:`DriftDetector.detect` compares a window of the same column with it.

A fitted detector is not changed by :meth:`~DriftDetector.detect`, so one detector may
serve concurrent calls. Every module of this package implements one detector.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import ColumnKind, ValidationError
from modelcycle.data import CategorySummary, ColumnProfile, NumericSummary
from modelcycle.monitoring.drift._window import ColumnWindow

Kind = Literal["numeric", "categorical"]
_NUMERIC_KINDS = {ColumnKind.NUMERIC, ColumnKind.INTEGER}
_CATEGORY_KINDS = {ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN, ColumnKind.CONSTANT}


@dataclass(frozen=True, slots=True)
class DriftResult:
    """What one detector found on one window.

    Attributes
    ----------
    detector:
        The detector's :attr:`DriftDetector.name` (``"psi"``, ``"ks"``, ...).
    statistic:
        The statistic or distance (always finite).
    threshold:
        What ``drifted`` was decided against: ``alpha`` for a test (``pvalue < alpha``),
        else the distance threshold (``statistic > threshold``).
    drifted:
        The detector's own verdict, before any multiple-testing correction.
    pvalue:
        The p-value of a test; ``None`` for a distance.
    rows:
        Window values the statistic was computed on.
    """

    detector: str
    statistic: float
    threshold: float
    drifted: bool
    pvalue: float | None = None
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "detector": self.detector,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "rows": self.rows,
        }


class DriftDetector(ABC):
    """Compares a window of one column with that column's reference.

    Subclasses set :attr:`name`, :attr:`kinds` and :attr:`is_test`, take their options
    as keyword-only constructor arguments stored under the same names, and implement
    :meth:`_fit` and :meth:`_detect`. An empty window (no usable values) is no evidence
    of drift: the result has statistic 0, p-value 1 and ``drifted=False``.
    """

    #: Stable short name, used in results and reports.
    name: ClassVar[str]
    #: Column kinds the detector accepts.
    kinds: ClassVar[frozenset[Kind]]
    #: ``True`` for a statistical test (a p-value), ``False`` for a distance.
    is_test: ClassVar[bool]

    def fit(self, reference: ColumnProfile | Any) -> Self:
        """Learn the reference: a profiled column, or the reference values themselves.

        Parameters
        ----------
        reference:
            A :class:`~modelcycle.data.ColumnProfile` (numeric or categorical), or
            values (array, list, Series): numbers are profiled as numeric, anything
            else as categorical. Some detectors keep the values too (see
            :class:`~modelcycle.monitoring.KSDetector`).

        Returns
        -------
        DriftDetector
            This detector, fitted.

        Raises
        ------
        ValidationError
            The reference is of a kind this detector does not handle, or has no values.
        """
        self._check_parameters()
        values: ColumnWindow | None = None
        if not isinstance(reference, ColumnProfile):
            values = ColumnWindow.of(reference)
            reference = profile_values(values)
        kind = column_kind(reference)
        if kind not in self.kinds:
            raise ValidationError(
                f"{type(self).__name__} compares {sorted(self.kinds)} columns; column "
                f"{reference.name!r} is {reference.kind.value!r}",
                details={"column": reference.name, "kind": reference.kind.value},
            )
        self.reference_ = reference
        self.kind_: Kind = kind
        self._fit(reference, values)
        return self

    def detect(self, window: ColumnWindow | Any) -> DriftResult:
        """Compare a window of the column (values or a :class:`ColumnWindow`) with the reference.

        Raises
        ------
        ValidationError
            The detector is not fitted yet.
        """
        if not hasattr(self, "reference_"):
            raise ValidationError(
                f"{type(self).__name__} is not fitted; call fit(reference) before detect()"
            )
        return self._detect(ColumnWindow.of(window))

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as stored."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _check_parameters(self) -> None:
        """Validate the constructor arguments (at fit, as scikit-learn does)."""
        for label, value in self.get_params().items():
            if not isinstance(value, float | int) or isinstance(value, bool):
                raise ValidationError(f"{label} is {value!r}; expected a number")
            upper = 1.0 if label == "alpha" else math.inf
            if not 0.0 < float(value) < upper:
                expected = "in (0, 1)" if label == "alpha" else "above 0"
                raise ValidationError(f"{label} is {value!r}; expected a number {expected}")

    @abstractmethod
    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        """Learn the state (attributes ending in ``_``); ``values`` when fitted on values."""

    @abstractmethod
    def _detect(self, window: ColumnWindow) -> DriftResult:
        """Compare the window with the fitted reference."""

    def _test(self, statistic: float, pvalue: float, rows: int, alpha: float) -> DriftResult:
        pvalue = min(max(float(pvalue), 0.0), 1.0) if math.isfinite(pvalue) else 1.0
        return DriftResult(self.name, float(statistic), alpha, pvalue < alpha, pvalue, rows)

    def _distance(self, statistic: float, rows: int, threshold: float) -> DriftResult:
        statistic = float(statistic) if math.isfinite(statistic) else 0.0
        return DriftResult(self.name, statistic, threshold, statistic > threshold, None, rows)


def column_kind(column: ColumnProfile) -> Kind:
    """``"numeric"`` or ``"categorical"``; raise for other kinds or an empty reference."""
    if column.kind in _NUMERIC_KINDS and isinstance(column.summary, NumericSummary):
        return "numeric"
    if column.kind in _CATEGORY_KINDS and isinstance(column.summary, CategorySummary):
        return "categorical"
    raise ValidationError(
        f"column {column.name!r} ({column.kind.value}) has no numeric or categorical "
        "reference statistics to compare with; expected a numeric or categorical column "
        "with at least one value",
        details={"column": column.name},
    )


def profile_values(window: ColumnWindow, name: str = "reference") -> ColumnProfile:
    """Profile reference values: numeric when they are all numbers, else categorical."""
    numbers = window.numbers()
    present = window.rows - window.missing
    if present and numbers.size == present:
        summary = NumericSummary.from_values(numbers)
        return ColumnProfile(name, ColumnKind.NUMERIC, present, window.missing, 0, summary)
    counts = window.counts()
    order = np.argsort(-counts.to_numpy(), kind="stable")
    top = tuple((str(k), int(v)) for k, v in counts.iloc[order].items())
    summary_c = CategorySummary(distinct=len(top), top=top, other=0) if top else None
    return ColumnProfile(name, ColumnKind.CATEGORICAL, present, window.missing, 0, summary_c)


def category_buckets(
    summary: CategorySummary, counts: pd.Series
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Reference and window counts in the reference's buckets: its top values, then the rest.

    Window values outside the reference's top values fall in the last bucket ("other"),
    which is kept even when the reference has none there (new categories).
    """
    labels = [label for label, _ in summary.top]
    reference = np.array([c for _, c in summary.top] + [summary.other], dtype=np.float64)
    known = counts.reindex(labels, fill_value=0).to_numpy(dtype=np.float64)
    other = float(counts.sum()) - float(known.sum())
    return reference, np.append(known, other)
