"""The tamper-evident audit log: one keyed chain of every state change.

Each event's ``hash`` is the HMAC-SHA256, under the workspace's audit key, of the
canonical JSON of its fields (``seq``, ``time``, ``actor``, ``action``, ``target``,
``before``, ``after``, ``request_id``) and the previous event's ``hash``. Editing,
inserting, deleting or reordering a stored row breaks the chain at that row and
:func:`verify` names it; without the key, nobody can recompute the MACs after an
edit (a chain re-hashed with plain SHA-256, as before migration 0006, fails too).
The ``audit_seal`` row names the algorithm and the key's public id, so a chain
rewritten as unkeyed (a downgrade) and a wrong or missing key are told apart
(:mod:`modelcycle.security._audit_seal`).

The key never enters the database: :func:`modelcycle.security.open_audit_chain`
loads it (:mod:`modelcycle.security._audit_key`) when a workspace opens and attaches
it to the :class:`~modelcycle.store.Database`; a database opened without it can be
read but neither extended nor verified.

:func:`append` runs inside the caller's open write transaction: the event commits
or rolls back with the change it records. Appends are serialised so the chain
never forks: SQLite write transactions (``BEGIN IMMEDIATE``) are already
exclusive, and on PostgreSQL :func:`append` takes a transaction-level advisory
lock before it reads the previous hash. The lock is held to commit, so keep the
append the last statement of the transaction.

Known limit: a chain alone cannot reveal that its *newest* events were removed;
keep a :class:`ChainHead` elsewhere (``modelcycle audit head``) and pass it to
:func:`verify` as ``expect_head`` to detect that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import ValidationError, ms_to_datetime, now_ms
from modelcycle.security._audit_key import AuditKey
from modelcycle.security._audit_seal import lock_chain, read_seal, seal_problem, sealing_key
from modelcycle.store import Database, tables

GENESIS = "0" * 64
_HEAD = re.compile(r"(?:(?P<seq>[0-9]{1,18}):)?(?P<mac>[0-9a-fA-F]{64})")
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
class ChainHead:
    """The newest event of a chain: its sequence number and MAC, written ``SEQ:MAC``.

    Keep one elsewhere (``modelcycle audit head``) and give it to :func:`verify` to
    detect that the newest events were removed. An empty chain's head is ``0:000...0``.
    ``seq`` is ``None`` when a head is given by its MAC alone.

    Examples
    --------
    >>> head = ChainHead.parse("42:" + "ab" * 32)
    >>> head.seq, str(head) == "42:" + "ab" * 32
    (42, True)
    >>> ChainHead.parse("AB" * 32).seq is None
    True
    """

    seq: int | None
    mac: str

    def __str__(self) -> str:
        return self.mac if self.seq is None else f"{self.seq}:{self.mac}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read ``SEQ:MAC`` or ``MAC`` (64 hexadecimal digits), as ``audit head`` prints.

        Raises
        ------
        ValidationError
            ``text`` is neither form.
        """
        found = _HEAD.fullmatch(text.strip()) if isinstance(text, str) else None
        if found is None:
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise ValidationError(
                f"audit chain head {shown!r} is not valid; expected 'SEQ:MAC' as printed by "
                "'modelcycle audit head' (e.g. '42:3fa9...', 64 hexadecimal digits after the "
                "colon) or the 64-digit MAC alone"
            )
        seq = found.group("seq")
        return cls(None if seq is None else int(seq), found.group("mac").lower())


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    ``broken_seq`` is the first event (by sequence number) that does not verify,
    ``reason`` says why, and ``head`` is the MAC of the last event checked
    (``events`` is its sequence number: a verified chain counts from 1).
    """

    ok: bool
    events: int
    head: str
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def chain_head(self) -> ChainHead:
        """The last verified event as a :class:`ChainHead` (keep it to detect removals)."""
        return ChainHead(self.events, self.head)


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


def _message(row: dict[str, Any]) -> bytes:
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
    return canonical_json(fields).encode()


def event_mac(row: dict[str, Any], key: AuditKey) -> str:
    """The HMAC-SHA256 (hex) of one stored event row's fields and its ``prev_hash``."""
    return key.mac(_message(row))


def unkeyed_hash(row: dict[str, Any]) -> str:
    """The plain SHA-256 (hex) the chain used before migration 0006 (for re-sealing only)."""
    return hashlib.sha256(_message(row)).hexdigest()


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
    WorkspaceError, IntegrityError
        The chain's key is missing or wrong, or the chain is not sealed (see
        :func:`sealing_key`); the caller's change rolls back with it.

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
    lock_chain(connection)
    key = sealing_key(connection, read_seal(connection))
    fields = {"before": before, "after": after, "request_id": request_id}
    return append_sealed(connection, key, actor=actor, action=action, target=target, **fields)


def append_sealed(
    connection: Connection,
    key: AuditKey,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event MACed with ``key``; the caller holds :func:`lock_chain`."""
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
    row["hash"] = event_mac(row, key)
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


def stored_batches(connection: Connection, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """Every stored event row in sequence order, in lists of at most ``size``.

    Each list is read in full before it is yielded, so the caller may rewrite its rows
    (but not their ``seq``) on the same connection before asking for the next.
    """
    after = None
    while True:
        query = sa.select(_events).order_by(_events.c.seq).limit(size)
        if after is not None:
            query = query.where(_events.c.seq > after)
        rows = [dict(r) for r in connection.execute(query).mappings()]
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = rows[-1]["seq"]


def stored_rows(connection: Connection) -> Iterator[dict[str, Any]]:
    """Every stored event row in sequence order, read in batches."""
    for batch in stored_batches(connection):
        yield from batch


def chain_problem(row: dict[str, Any], expected_seq: int, prev: str, mac: str) -> str | None:
    """Why ``row`` (whose recomputed MAC is ``mac``) does not continue the chain, or ``None``."""
    seq = row["seq"]
    if seq < expected_seq:
        return f"event {seq} appears where event {expected_seq} belongs (renumbered rows)"
    if seq > expected_seq:
        gap = (
            f"event {expected_seq}"
            if seq == expected_seq + 1
            else f"events {expected_seq}..{seq - 1}"
        )
        return f"{gap} missing before event {seq} (rows were deleted)"
    if row["prev_hash"] != prev:
        return f"event {seq} does not follow the event before it (deleted or reordered rows)"
    if mac != row["hash"]:
        return (
            f"event {seq} does not match its MAC (the row was edited or moved, or its hash "
            "recomputed without the workspace's audit key)"
        )
    return None


def verify_audit(db: Database, *, expect_head: ChainHead | str | None = None) -> VerifyResult:
    """Recompute the chain from the first event; name the first event that fails.

    With ``expect_head`` (a :class:`ChainHead` kept from earlier, or its text), the
    chain must also still hold that event unchanged: removing the newest events, which
    leaves a shorter chain that verifies, is then caught too.

    Raises
    ------
    WorkspaceError
        The chain's key is missing or is not the key it was sealed with.
    ValidationError
        ``expect_head`` is text that is not a head.

    Examples
    --------
    >>> result = verify_audit(workspace.db)  # doctest: +SKIP
    >>> result.ok, result.broken_seq  # doctest: +SKIP
    (True, None)
    """
    expected = ChainHead.parse(expect_head) if isinstance(expect_head, str) else expect_head
    with db.read() as connection:
        seal = read_seal(connection)
        rows = stored_rows(connection)
        first = next(rows, None)
        if first is None:
            if seal is not None:  # a missing or wrong key is refused before any event too
                sealing_key(connection, seal)
            return _check_head(VerifyResult(True, 0, GENESIS), expected, None)
        problem = seal_problem(seal, "it holds events")
        if problem is not None:
            return VerifyResult(False, 0, GENESIS, broken_seq=int(first["seq"]), reason=problem)
        key = sealing_key(connection, seal)
        return _walk(key, _chain(first, rows), expected)


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _walk(
    key: AuditKey, rows: Iterator[dict[str, Any]], expected: ChainHead | None
) -> VerifyResult:
    prev, seq, seen = GENESIS, 0, None
    for row in rows:
        reason = chain_problem(row, seq + 1, prev, event_mac(row, key))
        if reason is not None:
            return VerifyResult(False, seq, prev, broken_seq=int(row["seq"]), reason=reason)
        prev, seq = row["hash"], seq + 1
        if _is_expected(expected, seq, prev):
            seen = ChainHead(seq, prev)
    return _check_head(VerifyResult(True, seq, prev), expected, seen)


def _is_expected(expected: ChainHead | None, seq: int, mac: str) -> bool:
    if expected is None:
        return False
    return expected.seq == seq if expected.seq is not None else expected.mac == mac


def _check_head(
    result: VerifyResult, expected: ChainHead | None, seen: ChainHead | None
) -> VerifyResult:
    """``result`` unless the expected head is gone or changed (the chain was cut back)."""
    if expected is None or (expected.seq == 0 and expected.mac == GENESIS):
        return result
    events, last = result.events, result.head
    if expected.seq is not None and expected.seq > events:
        reason = (
            f"the chain ends at event {events} but the expected head is event {expected.seq}: "
            f"the newest {expected.seq - events} event(s) were removed"
        )
        return VerifyResult(False, events, last, broken_seq=expected.seq, reason=reason)
    if seen is None or seen.mac != expected.mac:
        what = "no event has" if seen is None else f"event {seen.seq} does not have"
        reason = (
            f"{what} the expected head's MAC {expected.mac[:16]}...: the expected head was "
            "removed or rewritten (with the events after it)"
        )
        return VerifyResult(False, events, last, broken_seq=expected.seq, reason=reason)
    return result


def audit_head(db: Database) -> ChainHead:
    """The newest event's sequence number and MAC (``0`` and :data:`GENESIS` when empty).

    Examples
    --------
    >>> print(audit_head(workspace.db))  # doctest: +SKIP
    42:3fa9...
    """
    query = sa.select(_events.c.seq, _events.c.hash).order_by(_events.c.seq.desc()).limit(1)
    with db.read() as connection:
        last = connection.execute(query).first()
    return ChainHead(0, GENESIS) if last is None else ChainHead(int(last.seq), str(last.hash))


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
