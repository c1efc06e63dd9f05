"""Plotly figures as HTML fragments in the house look.

A chart is a ``<div>`` with its own small script and never carries plotly.js, which
the page loads once. Element ids are fixed by the caller, so one page renders to the
same bytes every time. Text from users travels inside the figure's JSON, which
plotly escapes for a ``<script>`` element.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
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


def plain_chart_div(
    traces: Sequence[dict[str, Any]],
    name: str,
    *,
    x_title: str,
    y_title: str,
    height: int = HEIGHT,
    layout: dict[str, Any] | None = None,
) -> str:
    """Plotly traces given as plain dicts (``{"type": "scatter", "x": ..., "y": ...}``)
    as a chart ``<div id="chart-<name>">`` in the house look of :func:`style_axes`.

    The same chart as a ``go.Figure`` through :func:`style_axes` and :func:`chart_div`,
    written as JSON without Plotly's figure objects, which validate every value and copy
    the template for each chart: that took most of the time of a page with ten charts
    of 50 runs. ``layout`` adds to the house layout (its ``xaxis`` and ``yaxis`` to the
    axes'); nothing is validated, so callers pass only what Plotly's reference names.

    Examples
    --------
    >>> html = plain_chart_div([{"type": "scatter", "x": [0, 1], "y": [0.9, 0.4]}], "loss",
    ...                        x_title="step", y_title="loss")
    >>> 'id="chart-loss"' in html
    True
    """
    import plotly.io as pio

    extra = dict(layout or {})
    figure = {
        "data": list(traces),
        "layout": {
            "template": _white_template(),
            "height": height,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
            "legend": {"x": 0.98, "xanchor": "right", "y": 0.02, "yanchor": "bottom"},
            **extra,
            "xaxis": {"title": {"text": x_title}, **extra.get("xaxis", {})},
            "yaxis": {"title": {"text": y_title}, **extra.get("yaxis", {})},
        },
    }
    return str(
        pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{name}",
            default_height=f"{height}px",
            config={"displaylogo": False, "responsive": True},
            validate=False,
        )
    )


@cache
def _white_template() -> dict[str, Any]:
    """The ``plotly_white`` template as JSON (built once; never changed)."""
    import plotly.io as pio

    template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
    return template
