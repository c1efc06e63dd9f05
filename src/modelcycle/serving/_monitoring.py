"""What monitoring left for a model, read for the ``/v1/models/{name}/...`` monitoring routes.

Serving does not import :mod:`modelcycle.monitoring` (a sibling layer): it reads what
the monitor job stores, the ``alerts`` table of the workspace database and the latest
report ``monitor.json`` in the model's report folder of the workspace's
:class:`~modelcycle.store.LogLayout` (mirrored first when the logs are in an object
store). Both reads block, so the routes run them in a thread, never on the prediction
path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from modelcycle.core import NotFound
from modelcycle.registry import check_model_name
from modelcycle.serving._errors import NotReady
from modelcycle.store import Database, LogLayout, read_alerts

#: A registered model's name (as the registry checks it): no '/', never '.' or '..'.
#: The file the monitor job writes for each model (``MonitorReport.save``).
REPORT_FILE = "monitor.json"


class MonitoringReader:
    """Alerts and latest monitoring reports of the workspace, read-only.

    Thread-safe: it keeps no state but the database (which pools its connections)
    and the log layout; every call reads afresh.

    Parameters
    ----------
    db:
        The workspace database holding the ``alerts`` table.
    layout:
        The workspace's log layout, whose report folders the monitor job saves in.

    Examples
    --------
    >>> reader = MonitoringReader(ws.db, ws.services.layout)  # doctest: +SKIP
    >>> reader.alerts("churn", limit=5)  # doctest: +SKIP
    [{'id': 7, 'model': 'churn', 'rule': 'drift', ...}]
    """

    def __init__(self, db: Database, layout: LogLayout) -> None:
        self.db = db
        self.layout = layout

    def alerts(
        self, model: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The stored alerts of ``model``, newest first (a naive ``since`` is UTC)."""
        rows = read_alerts(self.db, model=check_model_name(model), since=since, limit=limit)
        return [_alert(row) for row in rows]

    def report(self, model: str) -> bytes:
        """The latest report of ``model`` as stored: the bytes of a JSON object.

        Raises
        ------
        ValidationError
            ``model`` is not a model name (never a path outside the reports folder).
        NotFound
            No report was saved for the model.
        NotReady
            The file is not a JSON object (a report being written; retry).
        """
        path = self.layout.reports_of(check_model_name(model)) / REPORT_FILE
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(
                f"no monitoring report for model {model!r} yet; 'modelcycle monitor {model}' "
                "or a worker running its policy saves one",
                details={"model": model},
            ) from None
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise NotReady(
                f"the monitoring report of model {model!r} ({path.name}) is not a JSON object; "
                "it may be being written, retry in a moment",
                details={"model": model},
            )
        return data


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    """A stored alert as ``GET /v1/models/{name}/alerts`` shows it."""
    return {
        "id": row["alert_id"],
        "model": row["model"],
        "version": row["version"],
        "rule": row["rule"],
        "severity": row["severity"],
        "value": row["value"],
        "threshold": row["threshold"],
        "message": row["message"],
        "time": row["created_at"].isoformat(),
        "delivered": row["delivered"],
    }
