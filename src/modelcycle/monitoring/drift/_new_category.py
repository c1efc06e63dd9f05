"""Share of a window's values that the reference never held."""

from __future__ import annotations

from typing import ClassVar

from modelcycle.data import CategorySummary, ColumnProfile
from modelcycle.monitoring.drift._base import DriftDetector, DriftResult, Kind
from modelcycle.monitoring.drift._window import ColumnWindow


class NewCategoryDetector(DriftDetector):
    """Rate of new categories in a categorical column, drifted above ``threshold``.

    When the reference kept every category (its "other" count is 0) the statistic is
    the share of the window's present values outside them. When it kept only its top K,
    a value outside them may be a known rare one, so the statistic is how much the
    share outside the top K grew: ``max(0, window share - reference share)``.

    Parameters
    ----------
    threshold:
        Share of new values above which the column has drifted.

    Examples
    --------
    >>> detector = NewCategoryDetector().fit(["a", "b"] * 50)
    >>> detector.detect(["a", "b", "c", "a"]).statistic
    0.25
    """

    name: ClassVar[str] = "new_category"
    kinds: ClassVar[frozenset[Kind]] = frozenset({"categorical"})
    is_test: ClassVar[bool] = False

    def __init__(self, *, threshold: float = 0.05) -> None:
        self.threshold = threshold

    def _fit(self, reference: ColumnProfile, values: ColumnWindow | None) -> None:
        assert isinstance(reference.summary, CategorySummary)
        self.known_ = [label for label, _ in reference.summary.top]
        total = sum(count for _, count in reference.summary.top) + reference.summary.other
        self.other_share_ = reference.summary.other / total if total else 0.0

    def _detect(self, window: ColumnWindow) -> DriftResult:
        counts = window.counts()
        rows = int(counts.sum())
        if rows == 0:
            return self._distance(0.0, 0, self.threshold)
        outside = rows - int(counts.reindex(self.known_, fill_value=0).sum())
        return self._distance(max(0.0, outside / rows - self.other_share_), rows, self.threshold)
