"""Real models for the serving tests, trained once per session, and a real uvicorn server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from sklearn.linear_model import LinearRegression

import modelcycle as mc
from modelcycle.core import Task
from modelcycle.packaging import InputSpec, Signature
from modelcycle.services import Services
from modelcycle.serving import ServeSettings, create_app
from modelcycle.store import LogLayout
from tests.models import Data, log_logistic

STRICT = Signature(
    inputs=(
        InputSpec("age", "long", nullable=False),
        InputSpec("income", "double", nullable=False),
        InputSpec("plan", "string", nullable=False, categories=("a", "b", "c")),
    ),
    task=Task.BINARY,
    classes=(0, 1),
)


def churn_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Customers whose churn depends on age and plan (learnable in a few seconds)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 10, n),
            "plan": rng.choice(["a", "b", "c"], n),
        }
    )
    return frame.assign(churn=((frame.age > 50) ^ (frame.plan == "a")).astype(int))


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, cancer: Data) -> Iterator[mc.Workspace]:
    """A workspace with: churn v1 & v2 (modelcycle flavor, v1 champion), strict (a
    non-nullable, categorical signature on the same pipeline), cancer (scikit-learn)
    and area (a scikit-learn regressor)."""
    ws = mc.Workspace(tmp_path_factory.mktemp("serving") / "ws")
    trained = ws.train(churn_frame(), target="churn", name="churn", budget=6)
    run_id = trained.version.run_id
    assert run_id is not None
    ws.registry.register(run_id, name="churn")
    ws.registry.promote("churn", 1)
    pipeline = ws.registry.load("churn/1")._predictor.pipeline  # type: ignore[attr-defined]
    with ws.start_run(experiment="serving", name="strict") as run:
        run.log_model(pipeline, signature=STRICT)
    ws.registry.register(run, name="strict")
    ws.registry.promote("strict", 1, force=True)
    ws.registry.register(log_logistic(ws, cancer, 1.0), name="cancer")
    ws.registry.promote("cancer", 1, force=True)
    columns = ["mean radius", "mean texture"]
    with ws.start_run(experiment="serving", name="area") as run:
        model = LinearRegression().fit(cancer.x_train[columns], cancer.x_train["mean area"])
        run.log_model(model, signature=cancer.x_train[columns].head(20))
    ws.registry.register(run, name="area")
    ws.registry.promote("area", 1, force=True)
    yield ws
    ws.close()


def make_app(
    ws: mc.Workspace, log_dir: Path, *, secure: bool = False, **options: object
) -> FastAPI:
    """An app serving every test model, with fast polling and flushing.

    ``secure=True`` checks API keys against the workspace; otherwise keys are not required.
    Delayed labels go to ``<log_dir>-feedback`` (beside the prediction log, never shared).
    """
    defaults: dict[str, object] = {
        "models": ("churn", "strict", "cancer", "area"),
        "poll_interval_s": 0.1,
        "log_flush_interval_s": 0.2,
        # the authorization matrices fail hundreds of times from one address on purpose
        "auth_failure_limit": 100_000,
    }
    settings = ServeSettings(**{**defaults, **options})  # type: ignore[arg-type]
    return create_app(logging_to(ws, log_dir), settings, auth_required=secure)


def logging_to(ws: mc.Workspace, log_dir: Path) -> Services:
    """``ws``'s services logging predictions to ``log_dir``, labels to ``<log_dir>-feedback``
    and reading monitoring reports from ``reports/`` beside ``log_dir``."""
    layout = LogLayout(log_dir, feedback_dir_of(log_dir), log_dir.parent / "reports")
    return replace(ws.services, layout=layout)


def feedback_dir_of(log_dir: Path) -> Path:
    """Where :func:`make_app` writes the feedback log of an app logging to ``log_dir``."""
    return log_dir.with_name(log_dir.name + "-feedback")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(client: httpx.Client | object, url: str = "/health/ready") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get(url)  # type: ignore[attr-defined]
        if response.status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server did not become ready: {response.text}")


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1:<free port> in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base) as client:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.02)
            wait_ready(client)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve_process(
    args: list[str], output: Path, environment: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``modelcycle ARGS`` (a server) in its own session until the block ends, then Ctrl-C."""
    command = [sys.executable, "-m", "modelcycle", *args]
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=environment
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def http_ready(url: str, timeout_s: float = 120) -> None:
    """Wait until ``url``'s ``/health/ready`` answers 200 (a real server starting up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no server became ready in {timeout_s:g} s")
