"""The ``monitor`` job: monitor a model as its policy says, and retrain on chosen alerts.

The report is saved as the model's latest (``services.layout.reports_of(model)``); fired
alerts go to the log, the workspace database and (when the policy names one) a webhook,
through :func:`~modelcycle.monitoring.run_monitoring`. A rule that keeps firing is
delivered again only after ``monitoring.repeat_after`` (the report of every pass still
lists it), so a lasting drift does not page anyone every five minutes. An alert whose
rule is listed in ``retraining.on_alerts`` enqueues a ``retrain`` job carrying the alerts
(the queue keeps one retrain per model at a time).
"""

from __future__ import annotations

from typing import Any

from modelcycle.lifecycle._context import JobContext, json_safe
from modelcycle.lifecycle._policy import Policy
from modelcycle.monitoring import (
    AlertSink,
    LogSink,
    MonitorWindow,
    WebhookSink,
    read_predictions,
    run_monitoring,
)


def run_monitor(context: JobContext) -> dict[str, Any]:
    """Handler of ``monitor`` jobs (see the module docs)."""
    policy = context.policy()
    settings = policy.monitoring
    sinks: list[AlertSink] = [LogSink()]
    if settings.webhook:
        sinks.append(WebhookSink(settings.webhook))
    done = run_monitoring(
        context.services,
        context.model,
        window=MonitorWindow(last_rows=settings.window_rows, hours=settings.window_hours),
        rules=settings.rules(),
        sinks=sinks,
        repeat_after_s=settings.repeat_after_s,
        reader=context.loop.read_fn or read_predictions,
    )
    report = done.report
    alerts = [_alert(alert) for alert in report.alerts]
    return {
        "version": report.version,
        "status": report.status,
        "rows": report.rows,
        "alerts": alerts,
        "delivered": [alert.rule for alert in done.delivered],
        "delivery": report.delivery,
        "metrics": dict(report.metrics),
        "notes": list(report.notes),
        "report": {kind: str(path) for kind, path in done.saved.items()},
        "retrain_job": _retrain_on(context, policy, alerts),
    }


def _alert(alert: Any) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "metric": alert.metric,
        "value": alert.value,
        "message": alert.message,
    }


def _retrain_on(context: JobContext, policy: Policy, alerts: list[dict[str, Any]]) -> str | None:
    """Enqueue a retrain when an alert the policy retrains on fired; its job id, if new."""
    if policy.retraining is None:
        return None
    triggers = [a for a in alerts if a["rule"] in policy.retraining.on_alerts]
    if not triggers:
        return None
    job = context.services.jobs.enqueue(
        "retrain",
        context.model,
        {"trigger": "alerts", "alerts": json_safe(triggers)},
        dedupe_key=f"retrain:{context.model}",
    )
    return None if job is None else job.job_id
