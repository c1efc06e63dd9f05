"""A monitoring pass, end to end: monitor, save the report, deliver the fresh alerts.

``modelcycle monitor`` and the worker's ``monitor`` job both run :func:`run_monitoring`,
so a report is saved and alerts are delivered the same way whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.monitoring._alerts import Alert
from modelcycle.monitoring._history import record_drift
from modelcycle.monitoring._logread import read_predictions
from modelcycle.monitoring._monitor import monitor
from modelcycle.monitoring._monitor_report import MonitorReport, MonitorWindow
from modelcycle.monitoring._rules import AlertRule
from modelcycle.monitoring._sinks import AlertSink, DatabaseSink, deliver, recent_alerts

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.services import Services


@dataclass(frozen=True)
class MonitoringPass:
    """What one pass did: the report, where it was saved, which alerts went out."""

    report: MonitorReport
    saved: dict[str, Path]
    delivered: list[Alert]
    withheld: list[Alert]


def run_monitoring(
    services: Services,
    model: str,
    *,
    ref: str | None = None,
    window: MonitorWindow | None = None,
    rules: Iterable[AlertRule] = (),
    sinks: Sequence[AlertSink] = (),
    record: bool = True,
    copies: Sequence[Path | str] = (),
    repeat_after_s: float | None = None,
    reader: Callable[..., pd.DataFrame] = read_predictions,
) -> MonitoringPass:
    """Monitor ``model``, save the report, and deliver the alerts that fired.

    Parameters
    ----------
    services:
        The workspace's services.
    model, ref, window, rules, reader:
        As for :func:`monitor`.
    sinks:
        Where fired alerts go besides the workspace (a webhook, the log).
    record:
        Save the report as the model's latest in the workspace (where the server's
        ``/v1/models/{name}/monitoring`` reads it; published to the object store when
        the logs are there), add its drift per feature to the
        model's drift history (:func:`drift_history`), and store fired alerts in the
        workspace database (``/v1/models/{name}/alerts``).
    copies:
        Other folders to save the report into (``modelcycle monitor -o``).
    repeat_after_s:
        An alert whose rule already fired (and was stored) within this many seconds is
        listed in the report but not delivered again; ``None`` delivers every alert.

    Returns
    -------
    MonitoringPass
    """
    report = monitor(services, model, ref=ref, window=window, rules=rules, reader=reader)
    folders = [services.layout.reports_of(model)] if record else []
    saved = report.save(*copies, *folders) if folders or copies else {}
    for folder in folders:
        record_drift(folder, report.to_dict())  # the dashboard's drift over time
    if record:
        services.layout.publish_reports(model)  # logs in an object store: readers see it
    targets = [*sinks, *([DatabaseSink(services.db)] if record else [])]
    repeated = _delivered_lately(services, model, repeat_after_s)
    fresh = [alert for alert in report.alerts if alert.rule not in repeated]
    withheld = [alert for alert in report.alerts if alert.rule in repeated]
    delivery: dict[str, Any] | None = deliver(fresh, targets) if fresh and targets else None
    return MonitoringPass(replace(report, delivery=delivery), saved, fresh, withheld)


def _delivered_lately(services: Services, model: str, seconds: float | None) -> set[str]:
    """Rules of ``model`` whose alert was stored (delivered) within ``seconds``."""
    if seconds is None:
        return set()
    since = datetime.now(UTC) - timedelta(seconds=seconds)
    stored = recent_alerts(services.db, model=model, since=since, limit=10_000)
    return {str(alert["rule"]) for alert in stored}
