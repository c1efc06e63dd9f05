"""Wasserstein (earth mover's) distance in units of the reference standard deviation."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from modelcycle.data import QUANTILE_LEVELS, ColumnProfile, NumericSummary
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind
from modelcycle.monitoring.drift._window import ColumnWindow

_LEVELS = np.asarray(QUANTILE_LEVELS, dtype=np.float64)
#: Midpoints of 1,000 equal slices of (0, 1): where the two quantile functions are compared.
_GRID = (np.arange(1000, dtype=np.float64) + 0.5) / 1000


class WassersteinDetector(DriftDetector):
    """Wasserstein distance over the reference std of a number; drifted above ``threshold``.

    ``W1 = integral over u in (0, 1) of |Q_r(u) - Q_w(u)|``, the area between the two
    quantile functions, computed at 1,000 levels; ``Q_r`` is the reference's 101
    quantiles, linearly interpolated. Divided by the reference standard deviation, so
    a threshold of 0.1 means "a tenth of a standard deviation of mass moved" (the same
    normalisation and default as Evidently's). A shift of the mean by ``d`` sd gives
    ``d``; a constant reference (std 0) is compared in the column's own units.

    Parameters
    ----------
    threshold:
        Normalised distance above which the column has drifted.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = WassersteinDetector().fit(rng.normal(size=10_000))
    >>> round(detector.detect(rng.normal(0.5, size=5_000)).statistic, 1)
    0.5
    """

    name: ClassVar[str] = "wasserstein"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"numeric"})
    is_test: ClassVar[bool] = False

    def __init__(self, *, threshold: float = 0.1) -> None:
        self.threshold = threshold

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, NumericSummary)
        quantiles = np.asarray(reference.summary.quantiles, dtype=np.float64)
        self.reference_quantiles_ = np.interp(_GRID, _LEVELS, quantiles)
        self.scale_ = reference.summary.std if reference.summary.std > 0 else 1.0

    def _detect(self, window: ColumnWindow) -> DriftResult:
        ordered = window.sorted_numbers()
        if ordered.size == 0:
            return self._distance(0.0, 0, self.threshold)
        quantiles = sorted_quantiles(ordered, _GRID)
        distance = float(np.mean(np.abs(quantiles - self.reference_quantiles_))) / self.scale_
        return self._distance(distance, ordered.size, self.threshold)


def sorted_quantiles(
    ordered: NDArray[np.float64], levels: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``numpy.quantile(ordered, levels)`` (linear method) of already sorted values."""
    position = levels * (ordered.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    result: NDArray[np.float64] = ordered[low] + (position - low) * (ordered[high] - ordered[low])
    return result
