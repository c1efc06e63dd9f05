"""Reading the alerts monitoring stored: one query for the CLI, the worker and the server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from modelcycle.core import ValidationError, ms_to_datetime
from modelcycle.store import _tables as tables
from modelcycle.store._db import Database


def read_alerts(
    db: Database,
    *,
    model: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Stored alerts, newest first.

    Each is a dict of the ``alerts`` columns, with ``created_at`` an aware UTC datetime
    and ``delivered`` the decoded delivery record (``{}`` when absent or unreadable, so
    a listing never fails on one bad row). A naive ``since`` is taken as UTC.

    Raises
    ------
    ValidationError
        ``limit`` is not a whole number from 1 to 10,000.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise ValidationError(f"limit is {limit!r}; expected an integer from 1 to 10000")
    table = tables.alerts
    query = sa.select(table).order_by(table.c.created_at.desc(), table.c.alert_id.desc())
    if model is not None:
        query = query.where(table.c.model == model)
    if since is not None:
        aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        query = query.where(table.c.created_at >= int(aware.timestamp() * 1000))
    with db.read() as connection:
        rows = connection.execute(query.limit(limit)).mappings().all()
    return [_decoded(dict(row)) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    try:
        delivered = orjson.loads(row["delivered"] or "{}")
    except orjson.JSONDecodeError:
        delivered = {}
    return row | {
        "alert_id": int(row["alert_id"]),
        "created_at": ms_to_datetime(int(row["created_at"])),
        "delivered": delivered if isinstance(delivered, dict) else {},
    }
