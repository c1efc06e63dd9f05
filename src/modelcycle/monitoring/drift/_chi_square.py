"""Chi-square test of homogeneity on category frequencies (reference top K plus other)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from modelcycle.data import CategorySummary, ColumnProfile
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind, category_buckets
from modelcycle.monitoring.drift._window import ColumnWindow


class ChiSquareDetector(DriftDetector):
    """Chi-square test of equal category frequencies; drifted when p < ``alpha``.

    The buckets are the reference's top values and one for all the others (where the
    window's new categories land too); the 2 × buckets table of counts is tested for
    homogeneity, without continuity correction — the same as
    ``scipy.stats.chi2_contingency(table, correction=False)``. Buckets empty on both
    sides are dropped.

    Parameters
    ----------
    alpha:
        Significance level of the detector's own verdict.

    Examples
    --------
    >>> detector = ChiSquareDetector().fit(["a"] * 500 + ["b"] * 500)
    >>> detector.detect(["a"] * 300 + ["b"] * 700).drifted
    True
    """

    name: ClassVar[str] = "chi_square"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"categorical"})
    is_test: ClassVar[bool] = True

    def __init__(self, *, alpha: float = 0.05) -> None:
        self.alpha = alpha

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, CategorySummary)
        self.summary_ = reference.summary

    def _detect(self, window: ColumnWindow) -> DriftResult:
        reference, current = category_buckets(self.summary_, window.counts())
        statistic, dof = chi_square(reference, current)
        if dof == 0:
            return self._test(0.0, 1.0, int(current.sum()), self.alpha)
        return self._test(
            statistic, float(stats.chi2.sf(statistic, dof)), int(current.sum()), self.alpha
        )


def chi_square(first: NDArray[np.float64], second: NDArray[np.float64]) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom for a 2 × k table of counts."""
    table = np.vstack([first, second])
    table = table[:, table.sum(axis=0) > 0]
    total = table.sum()
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return 0.0, 0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    return float(np.sum((table - expected) ** 2 / expected)), table.shape[1] - 1
