"""Population stability index on the reference histogram's fixed edges."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from modelcycle.data import ColumnProfile, NumericSummary
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind
from modelcycle.monitoring.drift._window import ColumnWindow


class PSIDetector(DriftDetector):
    """Population stability index of a numeric column, drifted above ``threshold``.

    ``PSI = sum((w - r) * ln(w / r))`` over the bins of the reference histogram (its
    equal-frequency edges; window values beyond them count in the outer bins), where
    ``r`` and ``w`` are the reference and window shares of each bin, floored at
    ``epsilon`` so an empty bin gives a large but finite term. The usual reading:
    below 0.1 stable, 0.1-0.2 a moderate change, above 0.2 a significant one.

    Parameters
    ----------
    threshold:
        PSI above which the column has drifted.
    epsilon:
        Smallest share a bin is given.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = PSIDetector().fit(rng.normal(size=10_000))
    >>> round(detector.detect(rng.normal(1.0, size=5_000)).statistic, 2)
    0.98
    """

    name: ClassVar[str] = "psi"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"numeric"})
    is_test: ClassVar[bool] = False

    def __init__(self, *, threshold: float = 0.2, epsilon: float = 1e-4) -> None:
        self.threshold = threshold
        self.epsilon = epsilon

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, NumericSummary)
        histogram = reference.summary.histogram
        self.edges_ = np.asarray(histogram.edges, dtype=np.float64)
        counts = np.asarray(histogram.counts, dtype=np.float64)
        self.shares_ = counts / counts.sum()

    def _detect(self, window: ColumnWindow) -> DriftResult:
        ordered = window.sorted_numbers()
        if ordered.size == 0:
            return self._distance(0.0, 0, self.threshold)
        shares = sorted_bin_counts(self.edges_, ordered) / ordered.size
        return self._distance(psi(self.shares_, shares, self.epsilon), ordered.size, self.threshold)


def sorted_bin_counts(
    edges: NDArray[np.float64], ordered: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Counts of sorted values in the bins of :meth:`Histogram.bin <modelcycle.data.Histogram.bin>`.

    The same counts (a value on an inner edge falls right; values beyond the edges count
    in the outer bins), by one binary search per edge instead of one per value.
    """
    below = np.searchsorted(ordered, edges[1:-1], side="left")
    return np.diff(np.concatenate(([0], below, [ordered.size]))).astype(np.float64)


def psi(reference: NDArray[np.float64], window: NDArray[np.float64], epsilon: float) -> float:
    """PSI of two vectors of shares, each floored at ``epsilon``."""
    r = np.maximum(reference, epsilon)
    w = np.maximum(window, epsilon)
    return float(np.sum((w - r) * np.log(w / r)))
