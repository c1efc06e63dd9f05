"""Rendering an :class:`EvaluationReport` as one self-contained HTML page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.core import Task
from modelcycle.evaluation import _charts
from modelcycle.evaluation._metric_table import greater_is_better
from modelcycle.reports import render_page

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
    """Render ``report`` as one page: its sections, its charts, plotly.js.

    plotly.js is inlined unless ``plotly_js_src`` gives a URL (``plotly.min.js`` beside
    the page, as a run's stored report links it).
    """
    return render_page(
        "evaluation.html.j2",
        {
            "report": report,
            "sections": [(a, h) for a, h in SECTIONS if present(report, a)],
            "better": {name: greater_is_better(name) for name in report.metrics},
            "leaderboard_columns": _columns(report.leaderboard),
        },
        charts=charts(report),
        plotly_js_src=plotly_js_src,
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


def _columns(rows: tuple[Any, ...]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(key) for key in row))
    return list(columns)
