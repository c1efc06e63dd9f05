"""Rendering an :class:`EvaluationReport` as one self-contained HTML page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from modelcycle.core import Task
from modelcycle.evaluation import _charts
from modelcycle.evaluation._metric_table import greater_is_better

if TYPE_CHECKING:
    from modelcycle.evaluation._report import EvaluationReport

#: Section anchors and headings, in page order.
SECTIONS = (
    ("summary", "Summary"),
    ("notes", "Notes"),
    ("leaderboard", "Leaderboard"),
    ("curves", "ROC and precision–recall curves"),
    ("confusion", "Confusion matrix"),
    ("calibration", "Calibration"),
    ("thresholds", "Thresholds"),
    ("residuals", "Residuals"),
    ("slices", "Worst slices"),
    ("importance", "Feature importance"),
    ("contributions", "Contributions"),
    ("dataset", "Dataset"),
)


def render(report: EvaluationReport, *, plotly_js_src: str | None = None) -> str:
    """Render ``report`` with the packaged template, its charts and plotly.js.

    plotly.js is inlined once unless ``plotly_js_src`` gives a URL to load it from.
    """
    environment = Environment(
        loader=PackageLoader("modelcycle.evaluation", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["num"] = format_value
    template = environment.get_template("report.html.j2")
    return template.render(
        report=report,
        charts={name: Markup(div) for name, div in charts(report).items()},
        plotly_js=None if plotly_js_src else Markup(_charts.plotly_js()),
        plotly_js_src=plotly_js_src,
        sections=[(a, h) for a, h in SECTIONS if present(report, a)],
        better={name: _better(name) for name in report.metrics},
        leaderboard_columns=_columns(report.leaderboard),
    )


def charts(report: EvaluationReport) -> dict[str, str]:
    """Every chart of ``report`` as an HTML fragment, keyed by template name."""
    found: dict[str, str] = {}
    if report.curves is not None:
        found["roc"] = _charts.roc_chart(report.curves, report.metrics.get("roc_auc"))
        found["pr"] = _charts.pr_chart(report.curves, report.metrics.get("average_precision"))
    if report.confusion is not None:
        found["confusion"] = _charts.confusion_chart(report.confusion)
    if report.calibration is not None:
        found["calibration"] = _charts.calibration_chart(report.calibration)
    if report.residuals is not None:
        scatter, histogram = _charts.residual_charts(report.residuals)
        found["residual_scatter"], found["residual_histogram"] = scatter, histogram
    if report.importance is not None:
        found["importance"] = _charts.importance_chart(report.importance)
    if report.contributions is not None:
        found["contributions"] = _charts.contributions_chart(report.contributions)
    return found


def present(report: EvaluationReport, anchor: str) -> bool:
    """Whether the page has the section ``anchor``."""
    if anchor == "summary":
        return True
    if anchor == "curves":
        return report.curves is not None and report.task is Task.BINARY
    return bool(getattr(report, anchor))


def format_value(value: Any) -> str:
    """Numbers to four significant digits, NaN and None as a dash, others as text."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _better(metric: str) -> bool:
    try:
        return greater_is_better(metric)
    except ValueError:
        return True


def _columns(rows: tuple[Any, ...]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(key) for key in row))
    return list(columns)
