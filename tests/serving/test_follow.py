"""A server follows an alias move at once on PostgreSQL (LISTEN/NOTIFY), by polling on SQLite."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.serving._hub import ModelHub
from modelcycle.store import Database
from tests.models import load_cancer, log_logistic


@pytest.mark.postgres
def test_a_failed_listen_is_logged_without_the_secrets_in_the_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(postgres_url)
    listener = db.listener("modelcycle_test")
    assert listener is not None

    def refused() -> None:  # a driver error quoting its connection string
        raise psycopg.OperationalError(
            "cannot reach 'host=db password=Sup3r' or postgresql://me:Sup3r@db/mc"
        )

    monkeypatch.setattr(listener, "_open", refused)
    try:
        with caplog.at_level(logging.WARNING, logger="modelcycle"):
            assert listener.wait(0.3) is False
    finally:
        listener.close()
        db.dispose()
    assert "listening for modelcycle_test failed: OperationalError" in caplog.text
    assert "Sup3r" not in caplog.text


@pytest.mark.postgres
def test_a_notice_arrives_only_when_the_transaction_commits(postgres_url: str) -> None:
    db = Database(postgres_url)
    listener = db.listener("modelcycle_test")
    assert listener is not None
    try:
        assert listener.wait(0.2) is False  # opens the connection and listens

        def aborted(connection: sa.Connection) -> None:
            Database.notify(connection, "modelcycle_test", "x")
            raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            db.transaction(aborted)
        assert listener.wait(0.5) is False
        db.transaction(lambda connection: Database.notify(connection, "modelcycle_test", "y"))
        assert listener.wait(10) is True
        assert listener.wait(0.2) is False
    finally:
        listener.close()
        db.dispose()


def test_sqlite_has_no_listener(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    assert db.listener("modelcycle_test") is None
    db.dispose()


@pytest.mark.postgres
def test_the_hub_follows_a_promotion_long_before_its_poll(
    postgres_url: str, tmp_path: Path
) -> None:
    data = load_cancer()
    with mc.Workspace(tmp_path / "ws", db_url=postgres_url) as ws:
        for c in (1.0, 0.01):
            ws.registry.register(log_logistic(ws, data, c), name="cancer")
        ws.registry.promote("cancer", 1, force=True)
        hub = ModelHub(ws.registry, ("cancer",), max_rows=100)
        seen: list[int] = []

        async def follow() -> None:
            watcher = asyncio.create_task(hub.watch(3600))  # the poll never comes again
            try:
                while not hub.ready:
                    await asyncio.sleep(0.05)
                seen.append(hub.get("cancer").version)
                promoted = threading.Event()
                threading.Thread(
                    target=lambda: (ws.registry.promote("cancer", 2, force=True), promoted.set())
                ).start()
                deadline = time.monotonic() + 30
                while hub.get("cancer").version == 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                seen.append(hub.get("cancer").version)
                assert promoted.wait(5)
                ws.registry.rollback("cancer")
                while hub.get("cancer").version == 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                seen.append(hub.get("cancer").version)
            finally:
                watcher.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await watcher

        asyncio.run(follow())
        assert seen == [1, 2, 1]
