"""Plotly charts of an evaluation report, rendered as HTML fragments.

Each function returns a ``<div>`` with its own small script; none carries
plotly.js itself (see :mod:`modelcycle.reports`). Element ids are fixed, so the
same report renders to the same bytes.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import plotly.graph_objects as go

from modelcycle.evaluation._classification import BinaryCurves, Calibration, ConfusionMatrix
from modelcycle.evaluation._importance import ContributionSummary, PermutationImportance
from modelcycle.evaluation._regression import Residuals
from modelcycle.reports import chart_div, style_axes

_HEIGHT = 420
_MAX_BARS = 25


def roc_chart(curves: BinaryCurves, auc: float | None) -> str:
    """ROC curve with the chance diagonal."""
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"})
    label = "model" if auc is None else f"model (AUC {auc:.3f})"
    figure.add_scatter(
        x=curves.false_positive_rate, y=curves.true_positive_rate, mode="lines", name=label
    )
    _axes(figure, "False positive rate", "True positive rate", unit=True)
    return chart_div(figure, "roc")


def pr_chart(curves: BinaryCurves, average_precision: float | None) -> str:
    """Precision–recall curve."""
    figure = go.Figure()
    label = "model" if average_precision is None else f"model (AP {average_precision:.3f})"
    figure.add_scatter(x=curves.recall, y=curves.precision, mode="lines", name=label)
    _axes(figure, "Recall", "Precision", unit=True)
    return chart_div(figure, "pr")


def confusion_chart(matrix: ConfusionMatrix) -> str:
    """Heatmap of the confusion matrix, counts written in the cells."""
    labels = list(matrix.labels)
    counts = [list(row) for row in matrix.counts]
    figure = go.Figure(
        go.Heatmap(
            z=counts,
            x=labels,
            y=labels,
            text=counts,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>",
        )
    )
    _axes(figure, "Predicted class", "True class")
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category")
    return chart_div(figure, "confusion")


def calibration_chart(calibration: Calibration) -> str:
    """Reliability diagram: mean predicted probability against the observed rate."""
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"})
    figure.add_scatter(
        x=[b.mean_predicted for b in calibration.bins],
        y=[b.observed_rate for b in calibration.bins],
        mode="lines+markers",
        name=f"model (ECE {calibration.ece:.3f})",
        customdata=[b.count for b in calibration.bins],
        hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows",
    )
    observed = "Observed rate" if calibration.kind == "positive" else "Accuracy"
    _axes(figure, "Mean predicted probability", observed, unit=True)
    return chart_div(figure, "calibration")


def residual_charts(residuals: Residuals) -> tuple[str, str]:
    """Predicted-against-actual scatter and residual histogram."""
    low = min([*residuals.actual, *residuals.predicted], default=0.0)
    high = max([*residuals.actual, *residuals.predicted], default=1.0)
    scatter = go.Figure()
    scatter.add_scatter(x=[low, high], y=[low, high], mode="lines", name="perfect")
    scatter.add_scatter(
        x=residuals.predicted, y=residuals.actual, mode="markers", name="rows", opacity=0.5
    )
    _axes(scatter, "Predicted", "Actual")
    edges = residuals.histogram_edges
    centres = [(a + b) / 2 for a, b in pairwise(edges)]
    widths = [b - a for a, b in pairwise(edges)]
    histogram = go.Figure(go.Bar(x=centres, y=residuals.histogram_counts, width=widths))
    _axes(histogram, "Residual (actual − predicted)", "Rows")
    return chart_div(scatter, "residual-scatter"), chart_div(histogram, "residual-histogram")


def importance_chart(importance: PermutationImportance) -> str:
    """Horizontal bars of permutation importance with one standard deviation whiskers."""
    shown = importance.features[:_MAX_BARS][::-1]
    figure = go.Figure(
        go.Bar(
            x=[f.mean for f in shown],
            y=[f.feature for f in shown],
            orientation="h",
            error_x={"type": "data", "array": [f.std for f in shown]},
        )
    )
    _axes(figure, f"Drop in {importance.metric} when shuffled", "")
    figure.update_layout(height=max(_HEIGHT, 22 * len(shown) + 120))
    return chart_div(figure, "importance")


def contributions_chart(summary: ContributionSummary) -> str:
    """Horizontal bars of mean absolute contribution per feature."""
    shown = summary.features[:_MAX_BARS][::-1]
    figure = go.Figure(
        go.Bar(x=[f.mean_abs for f in shown], y=[f.feature for f in shown], orientation="h")
    )
    _axes(figure, "Mean |contribution|", "")
    figure.update_layout(height=max(_HEIGHT, 22 * len(shown) + 120))
    return chart_div(figure, "contributions")


def _axes(figure: Any, x_title: str, y_title: str, *, unit: bool = False) -> None:
    style_axes(figure, x_title, y_title, unit=unit, height=_HEIGHT)
