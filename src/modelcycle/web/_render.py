"""Rendering dashboard pages: our templates over the reports' shell and style.

Templates live in ``modelcycle/web/templates`` and extend ``base.html.j2`` of
:mod:`modelcycle.reports` (one style for reports and pages). Autoescape is on: every
run, model, user and column name is text from someone, and is escaped where shown.
plotly.js loads from ``/static/plotly.min.js``, served from the installed ``plotly``
package, and only on pages with charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.responses import HTMLResponse

from modelcycle.reports import format_share, format_value

PLOTLY_URL = "/static/plotly.min.js"
#: Sent with every page: scripts and styles from this server only (the charts' own
#: inline scripts included), no framing, forms posted only here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("modelcycle.web", "templates"),
                PackageLoader("modelcycle.reports", "templates"),
            ]
        ),
        autoescape=True,
        undefined=StrictUndefined,
    )
    environment.filters["num"] = format_value
    environment.filters["pct"] = format_share
    environment.filters["when"] = _when
    return environment


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def page(
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    charts: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page response: ``template`` with ``context``, chart fragments trusted as HTML."""
    html = (
        _environment()
        .get_template(template)
        .render(
            **context,
            charts={name: Markup(div) for name, div in (charts or {}).items()},
            plotly_js=None,
            plotly_js_src=PLOTLY_URL if charts else None,
        )
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
