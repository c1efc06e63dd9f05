"""The tamper-evident audit log: one hash chain of every state change.

Each event's ``hash`` is the SHA-256 of the canonical JSON of its fields
(``seq``, ``time``, ``actor``, ``action``, ``target``, ``before``, ``after``,
``request_id``) and the previous event's hash, so editing, deleting or
reordering a stored row breaks the chain at that row and :func:`verify` names it.

:func:`append` runs inside the caller's open write transaction: the event commits
or rolls back with the change it records. Appends are serialised so the chain
never forks: SQLite write transactions (``BEGIN IMMEDIATE``) are already
exclusive, and on PostgreSQL :func:`append` takes a transaction-level advisory
lock before it reads the previous hash. The lock is held to commit, so keep the
append the last statement of the transaction.

Known limit: a chain alone cannot reveal that its *newest* events were removed;
compare :attr:`VerifyResult.head` with a copy kept elsewhere to detect that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import ValidationError, ms_to_datetime, now_ms
from modelcycle.store import Database, tables

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x6D63617564  # "mcaud": any constant shared by every modelcycle process
_events = tables.audit_events


@dataclass(frozen=True)
class AuditEvent:
    """One recorded state change (an immutable snapshot)."""

    seq: int
    time: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    request_id: str | None
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the time in ISO 8601)."""
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    ``broken_seq`` is the first event (by sequence number) that does not verify,
    ``reason`` says why, and ``head`` is the hash of the last event checked.
    """

    ok: bool
    events: int
    head: str
    broken_seq: int | None = None
    reason: str | None = None


def canonical_json(value: Any, *, what: str = "audit value") -> str:
    """Serialise ``value`` as compact JSON with sorted keys (the form that is hashed).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [True, None]})
    '{"a":[true,null],"b":1}'
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{what} {value!r} cannot be recorded: {exc}; pass JSON values "
            "(str, int, finite float, bool, None, list, dict with str keys)"
        ) from exc


def event_hash(row: dict[str, Any]) -> str:
    """The SHA-256 (hex) of one stored event row's fields and its ``prev_hash``."""
    fields = {
        "seq": row["seq"],
        "time": row["created_at"],
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "before": row["before"],
        "after": row["after"],
        "request_id": row["request_id"],
        "prev_hash": row["prev_hash"],
    }
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def append(
    connection: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's open write transaction.

    Raises
    ------
    ValidationError
        ``actor``, ``action`` or ``target`` is empty, or ``before``/``after`` is not JSON.

    Examples
    --------
    >>> def work(connection):  # doctest: +SKIP
    ...     change_something(connection)
    ...     append(connection, actor="alice", action="model.gates", target="churn")
    >>> db.transaction(work)  # doctest: +SKIP
    """
    for field, value in (("actor", actor), ("action", action), ("target", target)):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"audit event {field} must be a non-empty string, got {value!r}")
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))
    last = connection.execute(
        sa.select(_events.c.seq, _events.c.hash).order_by(_events.c.seq.desc()).limit(1)
    ).first()
    row: dict[str, Any] = {
        "seq": 1 if last is None else int(last.seq) + 1,
        "created_at": now_ms(),
        "actor": actor,
        "action": action,
        "target": target,
        "before": None if before is None else canonical_json(before, what="audit 'before'"),
        "after": None if after is None else canonical_json(after, what="audit 'after'"),
        "request_id": request_id,
        "prev_hash": GENESIS if last is None else str(last.hash),
    }
    row["hash"] = event_hash(row)
    connection.execute(sa.insert(_events).values(**row))
    return _event(row)


def _event(row: Any) -> AuditEvent:
    time = ms_to_datetime(row["created_at"])
    assert time is not None
    return AuditEvent(
        seq=int(row["seq"]),
        time=time,
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
        request_id=row["request_id"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _rows(db: Database, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every stored row in sequence order, read in batches."""
    after = None
    while True:
        query = sa.select(_events).order_by(_events.c.seq).limit(batch)
        if after is not None:
            query = query.where(_events.c.seq > after)
        with db.read() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1]["seq"]


def _problem(row: dict[str, Any], expected_seq: int, prev: str) -> str | None:
    seq = row["seq"]
    if seq != expected_seq:
        gap = (
            f"event {expected_seq}"
            if seq == expected_seq + 1
            else f"events {expected_seq}..{seq - 1}"
        )
        return f"{gap} missing before event {seq} (rows were deleted)"
    if row["prev_hash"] != prev:
        return f"event {seq} does not follow the event before it (deleted or reordered rows)"
    if event_hash(row) != row["hash"]:
        return f"event {seq} does not match its hash (the row was edited or moved)"
    return None


def verify(db: Database) -> VerifyResult:
    """Recompute the chain from the first event; name the first event that fails.

    Examples
    --------
    >>> result = verify(workspace.db)  # doctest: +SKIP
    >>> result.ok, result.broken_seq  # doctest: +SKIP
    (True, None)
    """
    prev, expected, count = GENESIS, 1, 0
    for row in _rows(db):
        reason = _problem(row, expected, prev)
        if reason is not None:
            return VerifyResult(False, count, prev, broken_seq=int(row["seq"]), reason=reason)
        prev, expected, count = row["hash"], expected + 1, count + 1
    return VerifyResult(True, count, prev)


def list_events(
    db: Database,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    target: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events oldest first, filtered.

    ``target`` matches the target itself and what lies inside it (``churn``
    matches ``churn/3`` and ``churn@champion``); ``action`` matches exactly or as
    a dotted prefix (``alias`` matches ``alias.promote``). ``limit`` keeps the newest.
    """
    query = sa.select(_events)
    if since is not None:
        query = query.where(_events.c.created_at >= int(since.timestamp() * 1000))
    if actor is not None:
        query = query.where(_events.c.actor == actor)
    if target is not None:
        query = query.where(_within(_events.c.target, target, "/@:"))
    if action is not None:
        query = query.where(_within(_events.c.action, action, "."))
    query = query.order_by(_events.c.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    with db.read() as connection:
        events = [_event(row) for row in connection.execute(query).mappings()]
    return events[::-1]


def _within(column: Any, value: str, separators: str) -> Any:
    inside = [column.startswith(value + s, autoescape=True) for s in separators]
    return sa.or_(column == value, *inside)
