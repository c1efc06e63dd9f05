"""A real uvicorn server on 127.0.0.1: hot swap under load and the prediction log (issue 5)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import httpx

import modelcycle as mc
from tests.serving.conftest import make_app, running

ROW = {"age": 60, "income": 52.5, "plan": "b"}


class SteadyClient:
    """Sends one request after another until stopped, recording each answer."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.versions: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    response = client.post("/v1/models/churn/predict", json={"rows": [ROW]})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    self.failures.append(response.text)
                    continue
                self.versions.append(response.json()["version"])

    def wait_for(self, version: int, timeout: float = 20) -> None:
        seen = len(self.versions)
        deadline = time.monotonic() + timeout
        while version not in self.versions[seen:]:
            assert time.monotonic() < deadline, f"version {version} never answered"
            time.sleep(0.01)


def test_promotion_and_rollback_under_load(served: mc.Workspace, tmp_path: Path) -> None:
    app = make_app(served, tmp_path / "log", models=("churn",))
    with running(app) as base:
        client = SteadyClient(base)
        client.thread.start()
        client.wait_for(1)
        served.registry.promote("churn", 2, force=True)
        client.wait_for(2)
        served.registry.rollback("churn")
        client.wait_for(1)
        client.stop.set()
        client.thread.join()
    assert client.failures == []
    counts = Counter(client.versions)
    assert set(counts) == {1, 2} and counts[2] > 0
    assert served.registry.resolve("churn").version == 1


def test_every_answer_is_logged_by_a_clean_shutdown(served: mc.Workspace, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    app = make_app(served, log_dir, log_flush_interval_s=30)  # only the shutdown flush writes
    answered = []
    with running(app) as base, httpx.Client(base_url=base) as client:
        for age in range(100):
            response = client.post("/v1/models/churn/predict", json={"rows": [{**ROW, "age": age}]})
            answered.append(response.json()["request_id"])
        columns = {"mean radius": [14.0, 15.0], "mean texture": [19.0, 20.0]}
        answered.append(
            client.post("/v1/models/area/predict", json={"columns": columns}).json()["request_id"]
        )
    rows = duckdb.sql(
        f"select request_id, model, version, inputs, prediction, probabilities, latency_ms "
        f"from '{log_dir}/**/*.parquet' order by time, row"
    ).fetchall()
    assert len(rows) == 102
    assert sorted({r[0] for r in rows}) == sorted(answered)
    churn = [r for r in rows if r[1] == "churn"]
    assert len(churn) == 100 and {r[2] for r in churn} == {1}
    assert churn[0][3] == '{"age":0,"income":52.5,"plan":"b"}' and len(churn[0][5]) == 2
    area = [r for r in rows if r[1] == "area"]
    assert [r[3] for r in area][1] == '{"mean radius":15.0,"mean texture":20.0}'
    assert area[0][5] is None and all(r[6] > 0 for r in rows)


def test_the_log_is_flushed_while_serving(served: mc.Workspace, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    app = make_app(served, log_dir, models=("churn",), log_flush_interval_s=0.1)
    with running(app) as base, httpx.Client(base_url=base) as client:
        for _ in range(5):
            assert client.post("/v1/models/churn/predict", json={"rows": [ROW]}).is_success
        deadline = time.monotonic() + 5
        while not list(log_dir.glob("churn/*.parquet")):
            assert time.monotonic() < deadline, "nothing was flushed within 5 s"
            time.sleep(0.05)
        [(count,)] = duckdb.sql(f"select count(*) from '{log_dir}/**/*.parquet'").fetchall()
        assert 1 <= count <= 5
