"""Change of the missing rate, by a two-proportion z-test."""

from __future__ import annotations

import math
from typing import ClassVar

from scipy import stats

from modelcycle.data import ColumnProfile
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind
from modelcycle.monitoring.drift._window import ColumnWindow


class MissingRateDetector(DriftDetector):
    """Two-proportion z-test of the missing rate; drifted when p < ``alpha``.

    The statistic is the change of the rate (window minus reference, so +0.1 is ten
    points more missing); the p-value is two-sided, from the pooled z statistic
    ``(p_w - p_r) / sqrt(p (1 - p) (1 / n_r + 1 / n_w))``. Values present but not of
    the column's kind (the profile's ``invalid``) count as present.

    Parameters
    ----------
    alpha:
        Significance level of the detector's own verdict.

    Examples
    --------
    >>> detector = MissingRateDetector().fit([1.0] * 950 + [None] * 50)
    >>> result = detector.detect([1.0] * 850 + [None] * 150)
    >>> round(result.statistic, 2), result.drifted
    (0.1, True)
    """

    name: ClassVar[str] = "missing_rate"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"numeric", "categorical"})
    is_test: ClassVar[bool] = True

    def __init__(self, *, alpha: float = 0.05) -> None:
        self.alpha = alpha

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        self.rows_ = reference.count + reference.missing + reference.invalid
        self.missing_ = reference.missing

    def _detect(self, window: ColumnWindow) -> DriftResult:
        rows, missing = window.rows, window.missing
        if rows == 0 or self.rows_ == 0:
            return self._test(0.0, 1.0, rows, self.alpha)
        change = missing / rows - self.missing_ / self.rows_
        pooled = (missing + self.missing_) / (rows + self.rows_)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / rows + 1 / self.rows_))
        if spread == 0:
            return self._test(change, 1.0, rows, self.alpha)
        pvalue = 2 * float(stats.norm.sf(abs(change) / spread))
        return self._test(change, pvalue, rows, self.alpha)
