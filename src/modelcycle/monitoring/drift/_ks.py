"""Two-sample Kolmogorov–Smirnov test, from the reference's quantiles or its values.

Exactness against speed, decided: a profile keeps 101 quantiles of each numeric column,
not the values, so by default the test reads the reference's distribution function
from them. It is known exactly only at the quantile levels 0, 0.01, ..., 1; between two
quantiles it could be anything in a step of 0.01. The statistic used is therefore the
*smallest* Kolmogorov distance consistent with the quantiles,

    D = max_i max(F_w(q_i-) - i/100, i/100 - F_w(q_i)),

which equals the exact distance whenever the largest gap falls on a quantile and never
exceeds it. The test is conservative (false alarms at most ``alpha``, which matters on
windows of millions of rows, where a 0.01 error would be significant) at the cost of
missing changes that stay inside one percentile. Given the window sorted once (shared by the
numeric detectors, ~15 ms for a million values) it costs 202 binary searches.

Fitted on reference values instead, the detector keeps them sorted and computes the
exact statistic, equal to :func:`scipy.stats.ks_2samp`'s; the p-value in both cases is
its asymptotic one (``method="asymp"``), from the Kolmogorov distribution with
``n * m / (n + m)`` degrees of freedom.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from modelcycle.data import QUANTILE_LEVELS, ColumnProfile, NumericSummary
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind
from modelcycle.monitoring.drift._window import ColumnWindow

_LEVELS = np.asarray(QUANTILE_LEVELS, dtype=np.float64)


class KSDetector(DriftDetector):
    """Two-sample Kolmogorov–Smirnov test of a numeric column, drifted when p < ``alpha``.

    From a profile the statistic is the smallest distance the reference's 101 quantiles
    imply (a conservative test); from reference values it is exact (see the module).

    Parameters
    ----------
    alpha:
        Significance level of the detector's own verdict.

    Attributes
    ----------
    quantiles_:
        The reference quantiles at levels 0, 0.01, ..., 1.
    sample_:
        The sorted reference values when fitted on values, else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = KSDetector().fit(rng.normal(size=10_000))
    >>> detector.detect(rng.normal(size=5_000)).drifted
    False
    >>> detector.detect(rng.normal(0.3, size=5_000)).drifted
    True
    """

    name: ClassVar[str] = "ks"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"numeric"})
    is_test: ClassVar[bool] = True

    def __init__(self, *, alpha: float = 0.05) -> None:
        self.alpha = alpha

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, NumericSummary)
        self.quantiles_ = np.asarray(reference.summary.quantiles, dtype=np.float64)
        self.sample_ = np.sort(values.numbers()) if values is not None else None
        self.size_ = reference.count - reference.summary.infinite

    def _detect(self, window: ColumnWindow) -> DriftResult:
        numbers = window.sorted_numbers()
        if numbers.size == 0 or self.size_ == 0:
            return self._test(0.0, 1.0, 0, self.alpha)
        if self.sample_ is not None:
            statistic = exact_distance(self.sample_, numbers)
        else:
            statistic = sketch_distance(self.quantiles_, numbers)
        return self._test(
            statistic, ks_pvalue(statistic, self.size_, numbers.size), numbers.size, self.alpha
        )


def exact_distance(first: NDArray[np.float64], second: NDArray[np.float64]) -> float:
    """Kolmogorov distance between the empirical distributions of two sorted samples."""
    points = np.concatenate([first, second])
    cdf_first = np.searchsorted(first, points, side="right") / first.size
    cdf_second = np.searchsorted(second, points, side="right") / second.size
    return float(np.max(np.abs(cdf_first - cdf_second)))


def sketch_distance(quantiles: NDArray[np.float64], ordered: NDArray[np.float64]) -> float:
    """Smallest Kolmogorov distance of sorted values from a distribution with these quantiles."""
    le = np.searchsorted(ordered, quantiles, side="right") / ordered.size  # F_w(q_i)
    lt = np.searchsorted(ordered, quantiles, side="left") / ordered.size  # F_w(q_i-)
    return float(max(0.0, np.max(lt - _LEVELS), np.max(_LEVELS - le)))


def ks_pvalue(statistic: float, first: int, second: int) -> float:
    """Asymptotic two-sided p-value of a two-sample Kolmogorov–Smirnov distance."""
    effective = first * second / (first + second)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))
