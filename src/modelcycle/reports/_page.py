"""One page: a template of ``reports/templates`` rendered with its data and plotly.js.

Every page extends ``base.html.j2`` (the shell, style and script loading) and is
rendered with autoescape on, so text from users — model, feature and column names,
messages — is escaped wherever it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelcycle.reports._assets import plotly_js
from modelcycle.reports._format import format_share, format_value


def render_page(
    template: str,
    context: Mapping[str, Any],
    *,
    plotly_js_src: str | None = None,
    charts: Mapping[str, str] | None = None,
) -> str:
    """Render ``template`` with ``context``.

    Parameters
    ----------
    template:
        A template name in ``modelcycle/reports/templates`` (``evaluation.html.j2``...).
    context:
        The template's data (plain values and objects; text is escaped).
    plotly_js_src:
        Load plotly.js from this URL (relative: :data:`PLOTLY_FILE` beside the page);
        ``None`` inlines it, so the page stands alone.
    charts:
        Chart fragments by name (from :func:`chart_div`), trusted as HTML. A page
        without charts loads no plotly.js at all.
    """
    # Jinja loads with the first page, not with every package that may render one
    # (a prediction server renders none at start).
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    environment = Environment(
        loader=PackageLoader("modelcycle.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["num"] = format_value
    environment.filters["pct"] = format_share
    return environment.get_template(template).render(
        **context,
        charts={name: Markup(div) for name, div in (charts or {}).items()},
        plotly_js=None if plotly_js_src or not charts else Markup(plotly_js()),
        plotly_js_src=plotly_js_src if charts else None,
    )
