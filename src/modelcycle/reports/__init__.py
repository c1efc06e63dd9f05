"""Layer 1: rendering HTML pages — shared templates, charts, formatting and plotly.js.

The evaluation report, the monitoring report and the model card (and, next, the web
dashboard) are rendered here, from plain data their own packages prepare: one page
shell, one style, one way to draw a chart and to ship plotly.js (inlined in a page
that must stand alone, or linked to one stored copy beside it).

Examples
--------
>>> from modelcycle import reports
>>> reports.format_value(0.123456), reports.format_share(0.025)
('0.1235', '2.50%')
"""

from __future__ import annotations

from modelcycle.reports._assets import PLOTLY_FILE, plotly_js, write_assets
from modelcycle.reports._charts import chart_div, plain_chart_div, style_axes
from modelcycle.reports._format import format_share, format_value
from modelcycle.reports._notebook import notebook_frame
from modelcycle.reports._page import render_page

__all__ = [
    "PLOTLY_FILE",
    "chart_div",
    "format_share",
    "format_value",
    "notebook_frame",
    "plain_chart_div",
    "plotly_js",
    "render_page",
    "style_axes",
    "write_assets",
]
