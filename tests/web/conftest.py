"""A workspace with runs, a model with a failing gate, an alert and users of every role,
served by the dashboard on uvicorn at 127.0.0.1 (and, for the browser tests, Chromium)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.types import ASGIApp

import modelcycle as mc
from modelcycle.core import now_ms
from modelcycle.store import tables
from modelcycle.web import WebSettings, create_web_app
from tests.models import Data, log_logistic

PASSWORD = "a long enough passphrase"
ROLES = {"ada": "admin", "max": "maintainer", "vic": "viewer", "pia": "predictor"}


@dataclass
class Site:
    """The workspace behind a running dashboard, and its address."""

    ws: mc.Workspace
    base: str
    runs: list[str]

    def client(self) -> httpx.Client:
        """A client that does not follow redirects (tests look at them)."""
        return httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)

    def signed_in(self, user: str) -> httpx.Client:
        """A client with ``user``'s session."""
        client = self.client()
        login(client, user=user, password=PASSWORD)
        assert "mc_session" in client.cookies, f"{user} could not sign in"
        return client


def login_token(client: httpx.Client) -> str:
    """Open the sign-in form; return its double-submit token (its cookie is now set)."""
    found = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def login(client: httpx.Client, **fields: str) -> httpx.Response:
    """Post the sign-in form with a fresh token."""
    return client.post("/login", data={"token": login_token(client), **fields})


def csrf_of(client: httpx.Client, path: str = "/runs") -> str:
    """The CSRF token the pages of ``client``'s session carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None, f"no form on {path}"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn at 127.0.0.1:<free port> in a thread; yield its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the dashboard did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def build_workspace(ws: mc.Workspace, data: Data) -> list[str]:
    """Users of every role (password :data:`PASSWORD`), two logged runs registered as
    ``cancer`` v1 (champion) and v2 (failing the gate), 30 more runs, and one alert."""
    for user, role in ROLES.items():
        ws.security.create_user(user)
        ws.security.grant(user, role)
        ws.security.sessions.set_password(user, PASSWORD)
    strong = log_logistic(ws, data, 1.0)
    weak = log_logistic(ws, data, 0.0005)
    ws.registry.register(strong, "cancer")
    ws.registry.register(weak, "cancer")
    ws.registry.promote("cancer", 1)
    ws.registry.set_gates("cancer", {"min_metrics": {"test_roc_auc": 0.99}})
    for index in range(30):
        with ws.start_run(experiment="sweep", name=f"sweep-{index:02d}") as run:
            run.log_params({"lr": f"0.{index % 3 + 1}", "depth": str(index % 5)})
            run.log_metric("score", index / 100)
            for step in range(5):
                run.log_metric("loss", 1.0 / (step + 1 + index), step=step)
    ws.tracker.flush()
    with ws.db.engine.begin() as connection:
        connection.execute(
            sa.insert(tables.alerts).values(
                model="cancer",
                version=1,
                rule="feature drift",
                severity="warning",
                value=0.5,
                threshold=0.2,
                message="PSI 0.5 > 0.2 on feature 'mean radius'",
                created_at=now_ms(),
            )
        )
    return [strong, weak]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test, so the browser fixture sees a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, cancer: Data) -> tuple[Path, list[str]]:
    """The workspace of :func:`build_workspace`, built once; each test works on a copy."""
    home = tmp_path_factory.mktemp("web") / "ws"
    with mc.Workspace(home) as ws:
        runs = build_workspace(ws, cancer)
    return home, runs


@pytest.fixture
def site(tmp_path: Path, built: tuple[Path, list[str]]) -> Iterator[Site]:
    """A fresh copy of the built workspace and its dashboard on a real server."""
    shutil.copytree(built[0], tmp_path / "ws")
    ws = mc.Workspace(tmp_path / "ws")
    with running(create_web_app(ws.services, WebSettings())) as base:
        yield Site(ws, base, built[1])
    ws.close()


def expire_sessions(ws: mc.Workspace) -> None:
    """Move every session's expiry into the past (what time would do)."""
    with ws.db.engine.begin() as connection:
        connection.execute(sa.update(tables.web_sessions).values(expires_at=now_ms() - 1))


def audit_actions(ws: mc.Workspace) -> list[tuple[str, str]]:
    """``(actor, action)`` of every audit event, oldest first."""
    return [(e.actor, e.action) for e in ws.security.audit_events()]


def page_text(response: httpx.Response) -> str:
    """A page's text without tags, for assertions on what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


SENSITIVE = "mean radius"
PSI_RULE = "psi > 0.2 top 10 critical"


def serve_private_model(ws: mc.Workspace, data: Data) -> str:
    """Register ``cancer/1``'s pipeline as ``private`` with ``mean radius`` sensitive and
    the training profile (the drift reference); return the model name."""
    import json
    from dataclasses import replace as with_changes

    from modelcycle.data import Profile, infer_schema

    pipeline = ws.registry.load("cancer/1")._predictor.model  # type: ignore[attr-defined]
    signature = ws.registry.resolve("cancer/1").signature
    private = with_changes(
        signature,
        inputs=tuple(with_changes(s, sensitive=s.name == SENSITIVE) for s in signature.inputs),
    )
    frame = data.x_train.assign(target=data.y_train)
    profile = Profile.from_frame(frame, infer_schema(frame, target="target"))
    with ws.start_run(experiment="cancer", name="private") as run:
        run.log_model(pipeline, signature=private)
        run.log_text(json.dumps(profile.to_dict()), "profile.json")
    ws.registry.register(run, name="private")
    ws.registry.promote("private", 1, force=True)
    return "private"


def predict_shifted(ws: mc.Workspace, data: Data, rows: int = 300) -> None:
    """Send ``rows`` rows through a real server whose traffic moved: every feature
    shifted by two standard deviations. The server logs them (hashing ``mean radius``)."""
    from modelcycle.serving import ServeSettings, create_app

    picks = np.random.default_rng(1).integers(0, len(data.x_train), rows)
    shifted = data.x_train.iloc[picks].reset_index(drop=True)
    shifted = shifted + 2.0 * data.x_train.std()
    settings = ServeSettings(models=("private",), log_flush_interval_s=0.2, poll_interval_s=0.1)
    app = create_app(ws.services, settings, auth_required=False)
    with running(app) as base:
        client = httpx.Client(base_url=base, timeout=30)
        deadline = time.monotonic() + 30
        while client.get("/health/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        for start in range(0, rows, 50):
            chunk = shifted.iloc[start : start + 50].to_dict(orient="records")
            response = client.post("/v1/models/private/predict", json={"rows": chunk})
            assert response.status_code == 200, response.text
