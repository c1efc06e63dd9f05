"""Three ``modelcycle serve`` replicas on one PostgreSQL workspace (issue 16).

A round-robin client drives them through a promotion and a rollback (followed through
PostgreSQL notices: the poll interval is 30 s): every request is
answered, every replica follows each alias move, and every answered row is in the
prediction log exactly once, in the segment files of the replica that answered it.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

import modelcycle as mc
from tests.models import load_cancer, log_logistic
from tests.serving.conftest import free_port, http_ready, serve_process

REPLICAS = 3


def _drive(
    clients: list[httpx.Client], rows: list[dict[str, float]], until: int, answered: dict[str, int]
) -> set[int]:
    """Send round-robin requests until every replica answered with version ``until``
    (at most 20 s); return the versions seen. Any refused request fails the test."""
    seen: set[int] = set()
    followed: set[int] = set()
    deadline = time.monotonic() + 20
    for turn in itertools.count():
        index = turn % len(clients)
        batch = rows[turn % len(rows) : turn % len(rows) + 1 + turn % 3]
        response = clients[index].post("/v1/models/cancer/predict", json={"rows": batch})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["predictions"]) == len(batch)
        assert body["request_id"] not in answered
        answered[body["request_id"]] = len(batch)
        seen.add(body["version"])
        if body["version"] == until:
            followed.add(index)
        elif index in followed:
            pytest.fail(f"replica {index} answered with version {body['version']} after {until}")
        if len(followed) == len(clients) and turn >= 3 * len(clients):
            return seen
        assert time.monotonic() < deadline, f"replicas {followed} of 3 follow version {until}"
    raise AssertionError("unreachable")


@pytest.mark.postgres
@pytest.mark.slow
def test_three_replicas_follow_a_promotion_and_a_rollback(
    postgres_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "ws"
    data = load_cancer()
    with mc.Workspace(home, db_url=postgres_url) as ws:
        for number, c in enumerate((1.0, 0.001), start=1):
            ws.registry.register(log_logistic(ws, data, c), name="cancer")
            assert ws.registry.get_version("cancer", number).version == number
        ws.registry.promote("cancer", 1, force=True)

        environment = {**os.environ, "MODELCYCLE_DB_URL": postgres_url}
        ports = [free_port() for _ in range(REPLICAS)]
        answered: dict[str, int] = {}
        rows = data.x_test.head(40).to_dict(orient="records")
        with ExitStack() as stack:
            for number, port in enumerate(ports):
                args = ["-w", str(home), "serve", "cancer", "--port", str(port), "--no-auth"]
                args += ["--poll-interval", "30", "--log-flush-interval", "0.2"]
                output = tmp_path / f"serve-{number}.out"
                stack.enter_context(serve_process(args, output, environment))
            clients = []
            for port in ports:
                http_ready(f"http://127.0.0.1:{port}", timeout_s=60)
                clients.append(
                    stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}"))
                )

            assert _drive(clients, rows, 1, answered) == {1}
            ws.registry.promote("cancer", 2, force=True)
            assert 2 in _drive(clients, rows, 2, answered)
            ws.registry.rollback("cancer")
            assert 1 in _drive(clients, rows, 1, answered)
        # the servers stopped (Ctrl-C): each flushed its log before exiting

    folder = home / "predictions" / "cancer"
    segments = sorted(folder.rglob("*.parquet"))
    writers = {segment.name.split("-")[1] for segment in segments}
    assert len(writers) == REPLICAS  # one writer per replica, none sharing a file
    log = ds.dataset(segments, format="parquet").to_table()
    assert pc.all(pc.is_null(log["error"])).as_py()
    assert set(log["route"].to_pylist()) == {"primary"}
    logged = Counter(log["request_id"].to_pylist())
    assert logged == Counter(answered)  # every answered row exactly once, nothing else
    pairs = Counter(zip(log["request_id"].to_pylist(), log["row"].to_pylist(), strict=True))
    assert max(pairs.values()) == 1
    assert set(log["version"].to_pylist()) == {1, 2}
