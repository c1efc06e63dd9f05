"""The keyed audit chain on every backend: tampering is caught and named, appends never fork.

An attacker here may write the database (any SQL) but does not hold the workspace's
audit key; issue 11 ("the audit chain resists a database writer") is pinned by the
forgeries that recompute hashes with plain SHA-256 or with another key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from sqlalchemy.engine import Connection

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.security import list_events, verify_audit
from modelcycle.security._audit import GENESIS, append, canonical_json, event_mac, unkeyed_hash
from modelcycle.security._audit_key import AuditKey
from modelcycle.store import Database, tables


def _append(db: Database, n: int = 1, **fields: Any) -> None:
    for index in range(n):
        event = {"actor": "alice", "action": "test.event", "target": f"thing/{index}", **fields}
        db.transaction(lambda c, e=event: append(c, **e))  # type: ignore[misc]


@pytest.fixture
def db(workspace: mc.Workspace) -> Database:
    return workspace.db


def _sql(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


def test_a_clean_chain_verifies_and_lists(db: Database) -> None:
    assert verify_audit(db).ok and verify_audit(db).head == GENESIS
    _append(db, 3, before={"v": 1}, after={"v": 2, "why": ["gates ✓"]}, request_id="r-1")
    _append(db, 1, actor="bob", action="alias.promote", target="churn@champion")
    result = verify_audit(db)
    assert (result.ok, result.events, result.broken_seq) == (True, 4, None)
    events = list_events(db)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS and events[1].prev_hash == events[0].hash
    assert events[0].after == {"v": 2, "why": ["gates ✓"]} and events[0].request_id == "r-1"
    assert [e.seq for e in list_events(db, actor="bob")] == [4]
    assert [e.seq for e in list_events(db, target="churn")] == [4]
    assert [e.seq for e in list_events(db, target="thing")] == [1, 2, 3]
    assert [e.seq for e in list_events(db, target="thing/1")] == [2]
    assert [e.seq for e in list_events(db, action="alias")] == [4]
    assert [e.seq for e in list_events(db, limit=2)] == [3, 4]
    assert list_events(db, since=events[3].time)[-1].seq == 4
    assert list_events(db, since=events[3].time + timedelta(seconds=1)) == []


TAMPERING: dict[str, tuple[Callable[[Database], None], int, str]] = {
    "edit": (
        lambda db: _sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"),
        3,
        "event 3 does not match its MAC",
    ),
    "edit after": (
        lambda db: _sql(db, "UPDATE audit_events SET after = '[9]' WHERE seq = 5"),
        5,
        "event 5 does not match its MAC",
    ),
    "delete": (
        lambda db: _sql(db, "DELETE FROM audit_events WHERE seq = 3"),
        4,
        "event 3 missing before event 4",
    ),
    "delete first two": (
        lambda db: _sql(db, "DELETE FROM audit_events WHERE seq IN (1, 2)"),
        3,
        "events 1..2 missing before event 3",
    ),
    "reorder": (
        lambda db: _sql(
            db,
            "UPDATE audit_events SET seq = -1 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 4",
            "UPDATE audit_events SET seq = 4 WHERE seq = -1",
        ),
        3,
        "event 3 does not follow the event before it",
    ),
    "reorder and relink": (lambda db: _swap_and_relink(db, 3, 4), 3, "event 3 does not match"),
    "renumber": (
        lambda db: _sql(db, "UPDATE audit_events SET seq = 0 WHERE seq = 1"),
        0,
        "event 0 appears where event 1 belongs",
    ),
    "insert": (lambda db: _insert_forged(db, 7), 7, "event 7 does not match its MAC"),
    "re-hash one row with SHA-256": (
        lambda db: _forge(db, 2, lambda row: unkeyed_hash(row)),
        2,
        "event 2 does not match its MAC",
    ),
    "re-hash the rest with SHA-256": (
        lambda db: _forge(db, 3, lambda row: unkeyed_hash(row), rest=True),
        3,
        "event 3 does not match its MAC",
    ),
    "re-MAC the rest with another key": (
        lambda db: _forge(db, 3, lambda row: event_mac(row, AuditKey(b"k" * 32, "x")), rest=True),
        3,
        "recomputed without the workspace's audit key",
    ),
}


def _rows(db: Database) -> list[dict[str, Any]]:
    events = tables.audit_events
    with db.engine.connect() as connection:
        query = sa.select(events).order_by(events.c.seq)
        return [dict(r) for r in connection.execute(query).mappings()]


def _rewrite(db: Database, rows: list[dict[str, Any]]) -> None:
    events = tables.audit_events
    with db.engine.begin() as connection:
        connection.execute(sa.delete(events))
        connection.execute(sa.insert(events), rows)


def _forge(
    db: Database, seq: int, mac: Callable[[dict[str, Any]], str], *, rest: bool = False
) -> None:
    """Edit event ``seq`` and recompute its hash (and every later one, with ``rest``)."""
    rows = _rows(db)
    prev = rows[seq - 2]["hash"] if seq > 1 else GENESIS
    for row in rows[seq - 1 : None if rest else seq]:
        if row["seq"] == seq:
            row["actor"] = "mallory"
        row["prev_hash"] = prev
        row["hash"] = prev = mac(row)
    _rewrite(db, rows)


def _swap_and_relink(db: Database, first: int, second: int) -> None:
    """Swap two events' contents, keeping seq and prev_hash in order (only MACs give it away)."""
    rows = _rows(db)
    a, b = rows[first - 1], rows[second - 1]
    keep = ("seq", "prev_hash")
    rows[first - 1] = {**b, **{k: a[k] for k in keep}}
    rows[second - 1] = {**a, **{k: b[k] for k in keep}}
    _rewrite(db, rows)


def _insert_forged(db: Database, seq: int) -> None:
    """Append an event whose hash is the plain SHA-256 of its fields, linked to the head."""
    rows = _rows(db)
    row = {**rows[-1], "seq": seq, "actor": "mallory", "prev_hash": rows[-1]["hash"]}
    row["hash"] = unkeyed_hash(row)
    _rewrite(db, [*rows, row])


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_caught_and_the_first_broken_event_named(db: Database, kind: str) -> None:
    _append(db, 6)
    tamper, seq, reason = TAMPERING[kind]
    tamper(db)
    result = verify_audit(db)
    assert not result.ok and result.broken_seq == seq
    assert result.reason is not None and reason in result.reason


def test_event_rolls_back_with_its_transaction(db: Database) -> None:
    def work(connection: Connection) -> None:
        append(connection, actor="alice", action="test.event", target="x")
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.transaction(work)
    assert list_events(db) == [] and verify_audit(db).ok


def test_bad_events_are_refused(db: Database) -> None:
    with pytest.raises(ValidationError, match="audit event actor must be a non-empty string"):
        db.transaction(lambda c: append(c, actor="", action="a", target="t"))
    with pytest.raises(ValidationError, match=r"audit 'after' .* cannot be recorded"):
        db.transaction(lambda c: append(c, actor="a", action="a", target="t", after=float("nan")))
    assert list_events(db) == []


def test_concurrent_appends_never_fork_the_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            _append(db, 10, actor=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verify_audit(db)
    assert result.ok and result.events == 40
    assert [e.seq for e in list_events(db)] == list(range(1, 41))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
events = st.fixed_dictionaries(
    {
        "actor": st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
        "action": st.sampled_from(["run.create", "alias.promote", "key.create", "user.grant"]),
        "target": st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
        "before": json_values,
        "after": json_values,
        "request_id": st.none() | st.uuids().map(str),
    }
)


@pytest.fixture
def sqlite_db(sqlite_workspace: mc.Workspace) -> Database:
    return sqlite_workspace.db


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(events, min_size=1, max_size=8), victim=st.integers(min_value=0))
def test_any_sequence_of_appends_round_trips_and_verifies(
    sqlite_db: Database, batch: list[dict[str, Any]], victim: int
) -> None:
    _sql(sqlite_db, "DELETE FROM audit_events")
    for event in batch:
        sqlite_db.transaction(lambda c, e=event: append(c, **e))  # type: ignore[misc]
    stored = list_events(sqlite_db)
    assert [{k: getattr(e, k) for k in batch[0]} for e in stored] == batch
    assert verify_audit(sqlite_db).ok
    seq = victim % len(batch) + 1
    _sql(sqlite_db, f"UPDATE audit_events SET actor = actor || '!' WHERE seq = {seq}")
    assert verify_audit(sqlite_db).broken_seq == seq


def _text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    # PostgreSQL text cannot hold NUL; every other code point (surrogates aside) is fair.
    return st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=min_size,
        max_size=max_size,
    )


_json_text = json_values.map(canonical_json).filter(lambda s: "\x00" not in s)
_hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
#: Each stored column of an event, with values of its type an editor could write there.
FIELD_EDITS: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(-3, 40),
    "created_at": st.integers(0, 2**53),
    "actor": _text(1, 30),
    "action": _text(1, 30),
    "target": _text(1, 40),
    "before": st.none()
    | _text()
    | json_values.map(canonical_json).filter(lambda s: "\x00" not in s),
    "after": st.none()
    | _text()
    | json_values.map(canonical_json).filter(lambda s: "\x00" not in s),
    "request_id": st.none() | _text(0, 100),
    "prev_hash": _hex64,
    "hash": _hex64,
}
plain_events = st.fixed_dictionaries(
    {
        "actor": _text(1, 30),
        "action": st.sampled_from(["run.create", "alias.promote", "key.create", "user.grant"]),
        "target": _text(1, 40),
        "after": st.none() | st.dictionaries(_text(0, 8), _text(0, 20), max_size=3),
        "request_id": st.none() | st.uuids().map(str),
    }
)


#: How an editor without the key might cover an edit: not at all, or by recomputing the
#: edited row's hash (or every hash from it on) with plain SHA-256 or a key of their own.
FORGERIES: dict[str, Callable[[dict[str, Any]], str] | None] = {
    "none": None,
    "sha256": unkeyed_hash,
    "other key": lambda row: event_mac(row, AuditKey(b"mallory!" * 4, "mallory")),
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.lists(plain_events, min_size=1, max_size=6),
    field=st.sampled_from(sorted(FIELD_EDITS)),
    forgery=st.sampled_from(sorted(FORGERIES)),
    rest=st.booleans(),
    data=st.data(),
)
def test_any_single_field_edit_of_any_event_is_detected(
    db: Database,
    batch: list[dict[str, Any]],
    field: str,
    forgery: str,
    rest: bool,
    data: st.DataObject,
) -> None:
    _sql(db, "DELETE FROM audit_events")  # the seal row stays: the chain restarts empty
    for event in batch:
        db.transaction(lambda c, e=event: append(c, **e))  # type: ignore[misc]
    victim = data.draw(st.integers(1, len(batch)), label="victim seq")
    rows = _rows(db)
    old = rows[victim - 1]
    value = data.draw(FIELD_EDITS[field].filter(lambda v: v != old[field]), label=field)
    assume(field != "seq" or not 1 <= value <= len(batch))  # seq is the primary key
    mac = FORGERIES[forgery] if field not in ("seq", "prev_hash", "hash") else None
    old[field] = value
    if mac is not None:  # cover the edit: relink and re-hash the row (and the rest)
        prev = rows[victim - 2]["hash"] if victim > 1 else GENESIS
        for row in rows[victim - 1 : None if rest else victim]:
            row["prev_hash"] = prev
            row["hash"] = prev = mac(row)
    _rewrite(db, rows)
    result = verify_audit(db)
    assert not result.ok
    if field != "seq":
        assert result.broken_seq == victim, result.reason
