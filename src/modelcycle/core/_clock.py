"""Time and identifiers, in one place so tests and storage agree on units."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime


def now_ms() -> int:
    """Return the current wall-clock time as integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int | None) -> datetime | None:
    """Convert epoch milliseconds to an aware UTC ``datetime`` (``None`` stays ``None``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware ``datetime`` (a naive one is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def new_id() -> str:
    """Return a new random 32-character hexadecimal identifier."""
    return uuid.uuid4().hex
