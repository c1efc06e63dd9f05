"""Plotly figures as HTML fragments in the house look.

A chart is a ``<div>`` with its own small script and never carries plotly.js, which
the page loads once. Element ids are fixed by the caller, so one page renders to the
same bytes every time. Text from users travels inside the figure's JSON, which
plotly escapes for a ``<script>`` element.
"""

from __future__ import annotations

from typing import Any

#: Default chart height, in pixels.
HEIGHT = 420
#: Colours: a problem, and the usual.
BAD, NORMAL = "#c0392b", "#2e86c1"


def style_axes(
    figure: Any, x_title: str, y_title: str, *, unit: bool = False, height: int = HEIGHT
) -> None:
    """The house layout: white template, axis titles, legend inside; ``unit``: both in [0, 1]."""
    figure.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom"},
    )
    figure.update_xaxes(title_text=x_title)
    figure.update_yaxes(title_text=y_title)
    if unit:
        figure.update_xaxes(range=[0, 1])
        figure.update_yaxes(range=[0, 1.02])


def chart_div(figure: Any, name: str, *, height: int = HEIGHT) -> str:
    """A Plotly figure as a ``<div id="chart-<name>">`` (no plotly.js inside)."""
    return str(
        figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{name}",
            default_height=f"{figure.layout.height or height}px",
            config={"displaylogo": False, "responsive": True},
        )
    )
