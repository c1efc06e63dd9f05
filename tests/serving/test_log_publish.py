"""Publishing staged segments never holds up the writes (issue 16, logs in object storage)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from modelcycle.serving._log import FeedbackLog
from modelcycle.store import FEEDBACK_SCHEMA


def _labels(count: int) -> pa.Table:
    rows = [
        {
            "feedback_id": uuid.uuid4().hex,
            "time": datetime.now(UTC),
            "model": "churn",
            "request_id": uuid.uuid4().hex,
            "row": 0,
            "inputs": None,
            "label": "1",
            "source": "test",
        }
        for _ in range(count)
    ]
    return pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


class _StuckStore:
    """A publish callable that hangs (a store not answering) until released, then fails once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.published: list[str] = []

    def __call__(self, staging: Path) -> int:
        self.calls += 1
        if self.calls == 1:
            self.release.wait()
            raise ConnectionError("the store did not answer")
        names = [path.name for path in staging.rglob("*.parquet")]
        for path in staging.rglob("*.parquet"):
            path.unlink()
        self.published += names
        return len(names)


def test_segments_keep_being_written_while_an_upload_hangs(tmp_path: Path) -> None:
    store = _StuckStore()
    log = FeedbackLog(
        tmp_path, flush_interval_s=0.05, max_buffer=1, publish=lambda: store(tmp_path)
    )
    log.start()
    try:
        log.append(_labels(2))
        _until(lambda: store.calls == 1)  # the publisher hangs in the store
        log.append(_labels(3))
        log.append(_labels(4))
        _until(lambda: log.written == 9)  # written locally all the same
        assert len(list(tmp_path.rglob("*.parquet"))) >= 2
        store.release.set()
        _until(lambda: not list(tmp_path.rglob("*.parquet")))  # retried without new rows
    finally:
        log.close()
    assert store.calls >= 2 and not log.failing and log.dropped == 0
    assert len(store.published) >= 2
