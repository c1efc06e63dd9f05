"""Plotly charts of a monitoring report, rendered as HTML fragments.

Each function returns a ``<div>`` with its own small script; none carries plotly.js,
which the page inlines once. Element ids are fixed, so one report renders to the
same bytes. Text from users (feature names) travels inside the figure's JSON, which
plotly escapes for a ``<script>`` element.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from modelcycle.monitoring.drift import ColumnDrift, DriftReport
from modelcycle.reports import chart_div

_HEIGHT = 380
_MAX_BARS = 30
_DRIFTED, _STABLE = "#c0392b", "#2e86c1"
_PSI_THRESHOLD = 0.2


def drift_chart(drift: DriftReport) -> str | None:
    """Horizontal bars of each numeric feature's PSI, red when the feature drifted.

    The dashed line is the PSI threshold; ``None`` without a numeric feature.
    """
    shown = sorted((c for c in drift.columns if _has(c, "psi")), key=lambda c: -c["psi"].statistic)[
        :_MAX_BARS
    ]
    if not shown:
        return None
    shown.reverse()  # largest on top
    figure = go.Figure(
        go.Bar(
            x=[c["psi"].statistic for c in shown],
            y=[c.name for c in shown],
            orientation="h",
            marker_color=[_DRIFTED if c.drifted else _STABLE for c in shown],
            customdata=["drifted" if c.drifted else "stable" for c in shown],
            hovertemplate="%{y}<br>PSI %{x:.4f}<br>%{customdata}<extra></extra>",
        )
    )
    threshold = shown[0]["psi"].threshold if shown else _PSI_THRESHOLD
    figure.add_vline(
        x=threshold, line_dash="dash", line_color="#52606d", annotation_text=f"{threshold:g}"
    )
    _layout(figure, "PSI against the training profile", "")
    figure.update_yaxes(type="category")
    figure.update_layout(height=max(_HEIGHT, 22 * len(shown) + 120), showlegend=False)
    return chart_div(figure, height=_HEIGHT, name="drift")


def performance_chart(
    realized: pd.DataFrame, estimated: pd.DataFrame | None, metric: str | None
) -> str | None:
    """The metric over time per version: realized (solid) and CBPE-estimated (dashed)."""
    figure = go.Figure()
    for label, frame, dash in (("realized", realized, "solid"), ("estimated", estimated, "dash")):
        if frame is None:
            continue
        for version, part in frame.groupby("version", sort=True):
            figure.add_scatter(
                x=_times(part["end"]),
                y=part["value"].tolist(),
                mode="lines+markers",
                name=f"v{version} {label}",
                line={"dash": dash},
                customdata=part["rows"].tolist(),
                hovertemplate=f"v{version} {label}<br>%{{y:.4f}}<br>%{{customdata}} rows"
                "<extra></extra>",
            )
    if not figure.data:
        return None
    _layout(figure, "Time (end of bucket)", metric or "metric")
    return chart_div(figure, height=_HEIGHT, name="performance")


def latency_chart(latency: pd.DataFrame) -> str | None:
    """Median and 99th-percentile latency per time bucket and version."""
    if not len(latency):
        return None
    figure = go.Figure()
    for version, part in latency.groupby("version", sort=True):
        for column, dash in (("p50", "solid"), ("p99", "dot")):
            figure.add_scatter(
                x=_times(part["time"]),
                y=part[column].tolist(),
                mode="lines",
                name=f"v{version} {column}",
                line={"dash": dash},
            )
    _layout(figure, "Time", "Latency (ms)")
    return chart_div(figure, height=_HEIGHT, name="latency")


def error_chart(latency: pd.DataFrame) -> str | None:
    """Share of refused requests per time bucket and version."""
    if not len(latency):
        return None
    figure = go.Figure()
    for version, part in latency.groupby("version", sort=True):
        rate = part["errors"].astype(float) / part["requests"].astype(float).clip(lower=1.0)
        figure.add_scatter(
            x=_times(part["time"]),
            y=rate.tolist(),
            mode="lines+markers",
            name=f"v{version}",
            customdata=part["requests"].tolist(),
            hovertemplate="%{y:.2%} of %{customdata} requests<extra></extra>",
        )
    _layout(figure, "Time", "Error rate")
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    return chart_div(figure, height=_HEIGHT, name="errors")


def _has(column: ColumnDrift, detector: str) -> bool:
    return any(r.detector == detector for r in column.results)


def _times(values: pd.Series) -> list[str]:
    return [pd.Timestamp(v).isoformat() for v in values]


def _layout(figure: Any, x_title: str, y_title: str) -> None:
    figure.update_layout(
        template="plotly_white",
        height=_HEIGHT,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(title_text=y_title)
