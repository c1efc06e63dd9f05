"""``modelcycle serve --workers N``: several processes on one port, each logging its own answers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.core import Settings, ValidationError
from modelcycle.serving import ServeSettings, create_app
from modelcycle.serving._workers import WORKER_CONFIG_ENV, NoDelayHttpToolsProtocol, WorkerConfig
from modelcycle.store import LogLayout
from tests.serving.conftest import free_port, http_ready, logging_to

ROW = {"age": 60, "income": 52.5, "plan": "b"}


def test_worker_config_travels_in_one_environment_variable(tmp_path: Path) -> None:
    config = WorkerConfig(
        workspace=Settings(home=tmp_path, db_url="sqlite:////srv/ws.db"),
        serve=ServeSettings(models=("churn@champion",), max_rows=7, canary=("churn@b=0.1",)),
        auth_required=False,
    )
    environment = config.to_env()
    assert list(environment) == [WORKER_CONFIG_ENV]
    assert WorkerConfig.from_env(environment) == config
    with pytest.raises(ValidationError, match="--workers"):
        WorkerConfig.from_env({})
    with pytest.raises(ValidationError, match="not a valid configuration"):
        WorkerConfig.from_env({WORKER_CONFIG_ENV: '{"serve": {}}'})


def test_a_worker_loads_its_models_before_serving_and_names_itself(
    served: mc.Workspace, tmp_path: Path
) -> None:
    settings = ServeSettings(models=("churn",), poll_interval_s=60)
    app = create_app(logging_to(served, tmp_path), settings, auth_required=False, worker=True)
    with TestClient(app) as client:
        ready = client.get("/health/ready")  # no waiting: start-up loaded the models
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "models": {"churn@champion": 1},
            "worker": os.getpid(),
        }
        answer = client.post("/v1/models/churn/predict", json={"rows": [ROW]})
        assert answer.headers["X-Modelcycle-Worker"] == str(os.getpid())
        refused = client.post("/v1/models/churn/predict", json={"rows": []})
        assert refused.headers["X-Modelcycle-Worker"] == str(os.getpid())


class Recorded(NoDelayHttpToolsProtocol):
    """Records ``TCP_NODELAY`` of each accepted connection, after the protocol set it up."""

    seen: ClassVar[list[int]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        Recorded.seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_keep_alive_connections_of_a_pre_bound_socket_have_no_delay() -> None:
    """uvicorn issue #3149: ``--workers`` binds the socket without IPPROTO_TCP, so asyncio
    leaves Nagle on for accepted connections; our protocol turns it off."""
    config = uvicorn.Config(
        _hello,
        host="127.0.0.1",
        port=free_port(),
        loop="asyncio",
        http=Recorded,
        log_level="warning",
        lifespan="off",
    )
    sock = config.bind_socket()  # what uvicorn's multiprocess supervisor does
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        Recorded.seen.clear()
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}") as client:
            assert [client.get("/").text for _ in range(3)] == ["ok"] * 3  # one connection
        assert Recorded.seen == [1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def two_workers(ws: mc.Workspace, log_root: Path, output: Path) -> Iterator[str]:
    """``modelcycle serve churn --workers 2`` in a subprocess until the block ends (Ctrl-C).

    The workspace's logs go under ``log_root`` (``MODELCYCLE_LOG_ROOT``).
    """
    port = free_port()
    command = [sys.executable, "-m", "modelcycle", "-w", str(ws.settings.home), "serve"]
    command += ["churn", "--workers", "2", "--port", str(port), "--auth-cache-ttl", "0"]
    environment = {
        **os.environ,
        "MODELCYCLE_SERVE_LOG_FLUSH_INTERVAL_S": "60",  # only the shutdown flushes
        "MODELCYCLE_LOG_ROOT": str(log_root),
    }
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    try:
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGINT)  # what Ctrl-C does: the workers stop and flush
        assert process.wait(timeout=60) == 0, output.read_text()
    finally:
        if process.poll() is None:  # the test failed: stop the server and its workers
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _predict_until_both_answer(url: str, headers: dict[str, str]) -> dict[str, str]:
    """Request ids answered, each with the worker (pid) that answered it.

    The second worker may still be loading its models when the first answers (each loads
    before it accepts a connection), so this keeps asking, at a gentle pace, for up to
    two minutes.
    """
    answered: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(set(answered.values())) < 2:
        assert time.monotonic() < deadline, f"only worker(s) {set(answered.values())} answered"
        if len(answered) >= 100:
            time.sleep(0.05)
        response = httpx.post(  # a new connection each time: the kernel picks a worker
            f"{url}/v1/models/churn/predict", json={"rows": [ROW]}, headers=headers
        )
        assert response.status_code == 200, response.text
        answered[response.json()["request_id"]] = response.headers["X-Modelcycle-Worker"]
    return answered


@pytest.mark.slow
def test_two_workers_answer_and_both_flush_their_logs(served: mc.Workspace, tmp_path: Path) -> None:
    user = f"workers-{tmp_path.name}"
    served.security.create_user(user, actor="test")
    served.security.grant(user, "predictor", actor="test")
    key, _ = served.security.create_key(user, "predictor")
    headers = {"Authorization": f"Bearer {key}"}
    log_root, output = tmp_path / "logs", tmp_path / "serve.out"
    log_dir = LogLayout.under(log_root).predictions
    with two_workers(served, log_root, output) as url:
        http_ready(url)
        answered = _predict_until_both_answer(url, headers)
        refused = httpx.post(
            f"{url}/v1/models/churn/predict", json={"rows": [{"age": "x"}]}, headers=headers
        )
        assert refused.status_code == 422
        labels = [{"request_id": request_id, "label": 1} for request_id in answered]
        accepted = httpx.post(
            f"{url}/v1/models/churn/feedback", json={"labels": labels}, headers=headers
        )
        assert accepted.json() == {"accepted": len(answered), "model": "churn"}
        assert not list(log_dir.rglob("*.parquet"))  # nothing flushed before shutdown
    workers = set(answered.values())
    assert len(workers) == 2 and str(os.getpid()) not in workers
    segments = list((log_dir / "churn").glob("*.parquet"))
    assert len(segments) == 2, output.read_text()  # one per worker, at its shutdown
    logged = duckdb.sql(
        f"select request_id, error from read_parquet('{log_dir}/churn/*.parquet')"
    ).fetchall()
    assert sorted(r[0] for r in logged if r[1] is None) == sorted(answered)
    assert [r[1] for r in logged if r[1] is not None] == ["invalid"]
    feedback = LogLayout.under(log_root).feedback_of("churn")
    recorded = duckdb.sql(
        f"select request_id from read_parquet('{feedback}/*.parquet') where source = 'api'"
    ).fetchall()
    assert set(answered) <= {r[0] for r in recorded}


@pytest.mark.slow
def test_serve_options_left_out_yield_to_their_environment_variables(
    served: mc.Workspace, tmp_path: Path
) -> None:
    """MODELCYCLE_SERVE_MAX_ROWS applies when --max-rows is not given; a given option wins."""
    port = free_port()
    command = [sys.executable, "-m", "modelcycle", "-w", str(served.settings.home), "serve"]
    command += ["churn", "--port", str(port), "--no-auth", "--explain-top-k", "3"]
    environment = {
        **os.environ,
        "MODELCYCLE_LOG_ROOT": str(tmp_path / "logs"),
        "MODELCYCLE_SERVE_MAX_ROWS": "2",
        "MODELCYCLE_SERVE_EXPLAIN_TOP_K": "1",
    }
    output = tmp_path / "serve.out"
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        http_ready(url)
        three = httpx.post(f"{url}/v1/models/churn/predict", json={"rows": [ROW] * 3})
        assert three.status_code == 413, three.text  # the variable's 2 rows, not the default
        explained = httpx.post(f"{url}/v1/models/churn/predict?explain=true", json={"rows": [ROW]})
        assert explained.status_code == 200, explained.text
        assert len(explained.json()["explanations"][0]["contributions"]) == 3  # the option's
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
