"""Jensen–Shannon distance between category frequencies."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from modelcycle.data import CategorySummary, ColumnProfile
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind, category_buckets
from modelcycle.monitoring.drift._window import ColumnWindow


class JensenShannonDetector(DriftDetector):
    """Jensen–Shannon distance (base 2, in [0, 1]) of categories; drifted above ``threshold``.

    The square root of the Jensen–Shannon divergence between the reference's and the
    window's shares of its buckets (top values, then other) — the same as
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``. The default threshold, 0.1,
    is Evidently's.

    Parameters
    ----------
    threshold:
        Distance above which the column has drifted.

    Examples
    --------
    >>> detector = JensenShannonDetector().fit(["a"] * 500 + ["b"] * 500)
    >>> round(detector.detect(["a"] * 300 + ["b"] * 700).statistic, 3)
    0.174
    """

    name: ClassVar[str] = "jensen_shannon"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"categorical"})
    is_test: ClassVar[bool] = False

    def __init__(self, *, threshold: float = 0.1) -> None:
        self.threshold = threshold

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, CategorySummary)
        self.summary_ = reference.summary

    def _detect(self, window: ColumnWindow) -> DriftResult:
        reference, current = category_buckets(self.summary_, window.counts())
        rows = int(current.sum())
        if rows == 0 or reference.sum() == 0:
            return self._distance(0.0, 0, self.threshold)
        distance = jensen_shannon(reference / reference.sum(), current / rows)
        return self._distance(distance, rows, self.threshold)


def jensen_shannon(first: NDArray[np.float64], second: NDArray[np.float64]) -> float:
    """Jensen–Shannon distance, base 2, between two vectors of shares."""
    middle = (first + second) / 2
    divergence = (_kullback_leibler(first, middle) + _kullback_leibler(second, middle)) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def _kullback_leibler(shares: NDArray[np.float64], middle: NDArray[np.float64]) -> float:
    kept = shares > 0
    return float(np.sum(shares[kept] * np.log2(shares[kept] / middle[kept])))
