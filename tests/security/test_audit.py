"""The audit hash chain on every backend: tampering is caught and named, appends never fork."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from sqlalchemy.engine import Connection

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.security import GENESIS, append, list_events, verify
from modelcycle.security._audit import event_hash
from modelcycle.store import Database, tables, upgrade


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
    assert verify(db).ok and verify(db).head == GENESIS
    _append(db, 3, before={"v": 1}, after={"v": 2, "why": ["gates ✓"]}, request_id="r-1")
    _append(db, 1, actor="bob", action="alias.promote", target="churn@champion")
    result = verify(db)
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
        "event 3 does not match its hash",
    ),
    "edit after": (
        lambda db: _sql(db, "UPDATE audit_events SET after = '[9]' WHERE seq = 5"),
        5,
        "event 5 does not match its hash",
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
    "forged hash": (lambda db: _forge(db, 2), 3, "event 3 does not follow"),
}


def _forge(db: Database, seq: int) -> None:
    """Edit a row *and* recompute its hash: the next event still gives it away."""
    events = tables.audit_events
    with db.engine.begin() as connection:
        query = sa.select(events).where(events.c.seq == seq)
        row = {**connection.execute(query).mappings().one(), "actor": "mallory"}
        forged = sa.update(events).where(events.c.seq == seq)
        connection.execute(forged.values(actor="mallory", hash=event_hash(row)))


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_caught_and_the_first_broken_event_named(db: Database, kind: str) -> None:
    _append(db, 6)
    tamper, seq, reason = TAMPERING[kind]
    tamper(db)
    result = verify(db)
    assert not result.ok and result.broken_seq == seq
    assert result.reason is not None and reason in result.reason


def test_event_rolls_back_with_its_transaction(db: Database) -> None:
    def work(connection: Connection) -> None:
        append(connection, actor="alice", action="test.event", target="x")
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.transaction(work)
    assert list_events(db) == [] and verify(db).ok


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
    result = verify(db)
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
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(db)
    yield db
    db.dispose()


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
    assert verify(sqlite_db).ok
    seq = victim % len(batch) + 1
    _sql(sqlite_db, f"UPDATE audit_events SET actor = actor || '!' WHERE seq = {seq}")
    assert verify(sqlite_db).broken_seq == seq
