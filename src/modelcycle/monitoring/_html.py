"""Rendering a :class:`MonitorReport` as one self-contained, offline HTML page.

The page inlines plotly.js from the installed ``plotly`` package (or loads it from
``plotly_js_src``), so it opens without a network. Every text from users — model and
feature names, messages — is escaped by the template (autoescape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelcycle.monitoring import _charts
from modelcycle.monitoring.drift import ColumnDrift
from modelcycle.reports import format_share, format_value, render_page

if TYPE_CHECKING:
    from modelcycle.monitoring._monitor_report import MonitorReport

_DISTANCE = {"numeric": "wasserstein", "categorical": "jensen_shannon"}


@dataclass(frozen=True)
class Verdict:
    """One headline of the page: a label, its value and a tone (good, bad, muted)."""

    label: str
    value: str
    tone: str


@dataclass(frozen=True)
class FeatureRow:
    """One row of the per-feature drift table."""

    name: str
    kind: str
    importance: float | None
    psi: float | None
    distance_name: str
    distance: float | None
    pvalue: float
    drifted: bool
    reasons: str


def render(report: MonitorReport, *, plotly_js_src: str | None = None) -> str:
    """Render ``report`` as one page: verdicts, drift table, charts, plotly.js."""
    return render_page(
        "monitor.html.j2",
        {
            "report": report,
            "verdicts": verdicts(report),
            "features": feature_rows(report),
            "prediction": _prediction_row(report),
        },
        charts=charts(report),
        plotly_js_src=plotly_js_src,
    )


def charts(report: MonitorReport) -> dict[str, str]:
    """Every chart of ``report`` as an HTML fragment, keyed by template name."""
    found = {
        "drift": _charts.drift_chart(report.drift) if report.drift is not None else None,
        "performance": _charts.performance_chart(report.realized, report.estimated, report.metric),
        "latency": _charts.latency_chart(report.latency),
        "errors": _charts.error_chart(report.latency),
    }
    return {name: div for name, div in found.items() if div is not None}


def verdicts(report: MonitorReport) -> list[Verdict]:
    """The headlines: drift, realized and estimated metric, latency, errors, alerts."""
    metrics = report.metrics
    found = [_drift_verdict(report)]
    metric = report.metric or "metric"
    for family in ("realized", "estimated"):
        value = metrics.get(f"{family}.{metric}")
        text = f"{format_value(value)}" if value is not None else "—"
        if family == "realized" and value is not None:
            text += f" on {int(metrics.get('labelled_rows', 0))} labelled rows"
        found.append(Verdict(f"{family.capitalize()} {metric}", text, "muted"))
    p99 = metrics.get("latency.p99_ms")
    found.append(Verdict("Latency p99", f"{format_value(p99)} ms" if p99 else "—", "muted"))
    rate = metrics.get("error_rate")
    tone = "bad" if rate else "good" if rate is not None else "muted"
    found.append(Verdict("Error rate", format_share(rate), tone))
    count = len(report.alerts)
    found.append(Verdict("Alerts", str(count), "bad" if count else "good"))
    return found


def feature_rows(report: MonitorReport) -> list[FeatureRow]:
    """Per-feature drift rows, drifted first then by PSI (or distance)."""
    if report.drift is None:
        return []
    rows = [_feature(column, report) for column in report.drift.columns]
    return sorted(rows, key=lambda r: (not r.drifted, -(r.psi or r.distance or 0.0), r.name))


def _prediction_row(report: MonitorReport) -> FeatureRow | None:
    if report.drift is None or report.drift.prediction is None:
        return None
    return _feature(report.drift.prediction, report)


def _feature(column: ColumnDrift, report: MonitorReport) -> FeatureRow:
    results = {r.detector: r for r in column.results}
    distance = _DISTANCE[column.kind]
    reasons = ["significant"] if column.significant else []
    return FeatureRow(
        name=column.name,
        kind=column.kind,
        importance=report.importance.get(column.name),
        psi=results["psi"].statistic if "psi" in results else None,
        distance_name=distance.replace("_", "–"),
        distance=results[distance].statistic if distance in results else None,
        pvalue=column.adjusted_pvalue,
        drifted=column.drifted,
        reasons=", ".join(reasons + [name.replace("_", " ") for name in column.exceeded]),
    )


def _drift_verdict(report: MonitorReport) -> Verdict:
    drift = report.drift
    if drift is None:
        return Verdict("Drift", "not computed", "muted")
    drifted = len(drift.drifted_columns)
    text = f"{drifted} of {len(drift.columns)} features drifted"
    if drift.prediction is not None and drift.prediction.drifted:
        text += "; predictions drifted"
    return Verdict("Drift", text, "bad" if drift.drifted else "good")
