"""Regression diagnostics: residuals, as a sample of points and a histogram."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from modelcycle.core import Task
from modelcycle.evaluation._inputs import prepare
from modelcycle.evaluation._serial import jsonable, number, numbers


@dataclass(frozen=True, slots=True)
class Residuals:
    """Residuals (actual − predicted) of a regression holdout.

    ``actual``/``predicted`` are a seeded sample of at most ``max_points`` rows for
    a scatter plot; the histogram and statistics use every row.
    """

    actual: tuple[float, ...]
    predicted: tuple[float, ...]
    histogram_edges: tuple[float, ...]
    histogram_counts: tuple[int, ...]
    mean: float
    std: float
    median_abs: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(jsonable(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Residuals:
        """Build residuals from :meth:`to_dict` output."""
        return cls(
            actual=numbers(data["actual"]),
            predicted=numbers(data["predicted"]),
            histogram_edges=numbers(data["histogram_edges"]),
            histogram_counts=tuple(int(c) for c in data["histogram_counts"]),
            mean=number(data["mean"]),
            std=number(data["std"]),
            median_abs=number(data["median_abs"]),
        )


def residual_summary(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    max_points: int = 2000,
    n_bins: int = 30,
    random_state: int = 0,
) -> Residuals:
    """Summarise regression residuals for plots and the report.

    Examples
    --------
    >>> summary = residual_summary([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 4.5], n_bins=2)
    >>> summary.mean, summary.histogram_counts
    (0.0, (3, 1))
    """
    outcome = prepare(Task.REGRESSION, y_true, y_pred)
    residual = outcome.y - outcome.pred
    counts, edges = np.histogram(residual, bins=n_bins)
    rows = np.arange(outcome.n_rows)
    if rows.size > max_points:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, max_points, replace=False))
    return Residuals(
        actual=tuple(float(v) for v in outcome.y[rows]),
        predicted=tuple(float(v) for v in outcome.pred[rows]),
        histogram_edges=tuple(float(v) for v in edges),
        histogram_counts=tuple(int(c) for c in counts),
        mean=float(residual.mean()),
        std=float(residual.std()),
        median_abs=float(np.median(np.abs(residual))),
    )
