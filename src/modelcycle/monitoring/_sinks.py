"""Delivering alerts: to the log, the workspace database and webhooks.

A sink takes one alert at a time. :func:`deliver` hands every alert to every sink
and never raises: a sink that fails (a webhook answering 500, an unreachable host)
is logged on the ``modelcycle.alerts`` logger and counted as failed, so a
monitoring run always finishes. :class:`DatabaseSink` goes last and stores, with
each alert, where it was delivered and where it failed (the ``delivered`` JSON).
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from modelcycle._version import __version__
from modelcycle.core import ValidationError
from modelcycle.monitoring._alerts import Alert
from modelcycle.store import Database, read_alerts, tables

_LOG = logging.getLogger("modelcycle.alerts")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
DELIVERED = "delivered"


class DeliveryFailed(Exception):
    """A sink could not deliver an alert (caught by :func:`deliver`, never raised to users)."""


class AlertSink(Protocol):
    """Where alerts go.

    ``name`` identifies the sink in delivery summaries (without secrets).
    ``send`` delivers one alert or raises; ``delivered`` holds, for the sinks that
    ran before it, ``"delivered"`` or ``"failed: <reason>"``.
    """

    @property
    def name(self) -> str: ...

    def send(self, alert: Alert, delivered: Mapping[str, str]) -> None: ...


class LogSink:
    """Alerts as log records on the ``modelcycle.alerts`` logger (critical at ERROR level)."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or _LOG

    def send(self, alert: Alert, delivered: Mapping[str, str]) -> None:
        """Log ``alert.text`` at the level of its severity."""
        self.logger.log(_LEVELS[alert.severity], "%s", alert.text)


class DatabaseSink:
    """Alerts stored in the workspace's ``alerts`` table, for the dashboard and the CLI."""

    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    def send(self, alert: Alert, delivered: Mapping[str, str]) -> None:
        """Insert one row; ``delivered`` is stored as JSON."""
        row = {
            "model": alert.model,
            "version": alert.version,
            "rule": alert.rule[:100],
            "severity": alert.severity,
            "value": alert.value if math.isfinite(alert.value) else None,
            "threshold": alert.threshold,
            "message": alert.message,
            "created_at": int(alert.time.timestamp() * 1000),
            "delivered": json.dumps(dict(delivered), sort_keys=True),
        }
        self.db.transaction(lambda connection: connection.execute(tables.alerts.insert(), row))


class WebhookSink:
    """POST each alert as JSON (:meth:`Alert.to_dict`) to an HTTP(S) URL.

    The body also has a ``text`` field, so chat webhooks (Slack, Mattermost) show it.
    Connection errors, time-outs, 429 and 5xx answers are retried ``retries`` times
    with a growing pause; other 4xx answers are not.

    Parameters
    ----------
    url:
        An ``http://`` or ``https://`` URL.
    timeout_s:
        Time-out of each attempt.
    retries:
        Attempts after the first.
    backoff_s:
        Pause before the first retry, doubled for each next one.

    Raises
    ------
    ValidationError
        The URL is not http(s) or has no host.
    """

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, retries: int = 2, backoff_s: float = 0.5
    ) -> None:
        self.url = check_webhook_url(url)
        if not timeout_s > 0 or retries < 0 or backoff_s < 0:
            raise ValidationError(
                f"webhook timeout_s={timeout_s!r}, retries={retries!r}, backoff_s={backoff_s!r}; "
                "expected timeout_s > 0, retries >= 0 and backoff_s >= 0"
            )
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    @property
    def name(self) -> str:
        """``webhook <scheme>://<host>``: the path of a chat webhook is a secret."""
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )

    def send(self, alert: Alert, delivered: Mapping[str, str]) -> None:
        """Post the alert, retrying transient failures; raise :class:`DeliveryFailed`."""
        body = json.dumps(alert.to_dict(), allow_nan=False).encode()
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            retry, reason = self._post(body)
            if not reason:
                return
            if not retry:
                break
        raise DeliveryFailed(f"{reason} (after {attempt + 1} attempt(s))")

    def _post(self, body: bytes) -> tuple[bool, str]:
        """One attempt: ``(worth retrying, failure reason)``; no reason means delivered."""
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"modelcycle/{__version__}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as error:
            return error.code == 429 or error.code >= 500, f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return True, f"cannot reach {self.name}: {reason}"
        return False, ""


def check_webhook_url(url: object) -> str:
    """Return ``url`` if it is an http(s) URL with a host, else raise ValidationError."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"webhook URL {url!r} is not accepted; expected an http:// or https:// URL "
            "with a host, e.g. 'https://hooks.example.com/alerts'",
            details={"url": repr(url)},
        )
    return str(url)


def deliver(alerts: Iterable[Alert], sinks: Sequence[AlertSink]) -> dict[str, Any]:
    """Send every alert to every sink; failures are logged and counted, never raised.

    Database sinks run last, so the stored row records the other deliveries.

    Returns
    -------
    dict
        ``alerts`` (count), ``delivered`` and ``failed`` (alert × sink counts),
        ``sinks`` (per sink name: delivered, failed) and ``failures`` (rule, sink,
        error of each failed delivery).

    Examples
    --------
    >>> from modelcycle.monitoring import Alert
    >>> alert = Alert("churn", 1, "error_rate > 0.05", "warning", "error_rate", ">",
    ...               0.1, 0.05, "error_rate 0.1 > 0.05")
    >>> deliver([alert], [LogSink()])["delivered"]
    1
    """
    ordered = sorted(sinks, key=lambda sink: isinstance(sink, DatabaseSink))
    summary: dict[str, Any] = {"alerts": 0, "delivered": 0, "failed": 0, "failures": []}
    per_sink = {sink.name: {"delivered": 0, "failed": 0} for sink in ordered}
    for alert in alerts:
        summary["alerts"] += 1
        outcomes: dict[str, str] = {}
        for sink in ordered:
            outcomes[sink.name] = _send(sink, alert, outcomes)
            ok = outcomes[sink.name] == DELIVERED
            per_sink[sink.name]["delivered" if ok else "failed"] += 1
            summary["delivered" if ok else "failed"] += 1
            if not ok:
                summary["failures"].append(
                    {"rule": alert.rule, "sink": sink.name, "error": outcomes[sink.name]}
                )
    summary["sinks"] = per_sink
    return summary


def _send(sink: AlertSink, alert: Alert, outcomes: Mapping[str, str]) -> str:
    try:
        sink.send(alert, dict(outcomes))
    except Exception as error:  # a sink must never stop the monitoring run
        _LOG.warning(
            "alert %r on model %r: delivery to %s failed: %s",
            alert.rule,
            alert.model,
            sink.name,
            error,
        )
        return f"failed: {error}"
    return DELIVERED


def recent_alerts(
    db: Database,
    model: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The stored alerts, newest first, as JSON-ready dicts.

    Parameters
    ----------
    model:
        Only this model's alerts.
    since:
        Only alerts raised at or after this time.
    limit:
        At most this many (1 to 10,000).
    """
    return [
        row | {"created_at": row["created_at"].isoformat()}
        for row in read_alerts(db, model=model, since=since, limit=limit)
    ]
