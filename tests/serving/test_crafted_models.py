"""Issue 11: ``modelcycle serve`` (the real command, uvicorn on 127.0.0.1) never runs a
crafted model file: each such version stays not ready, its payload's marker is never
written, and a legitimate model beside them is served."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LinearRegression

import modelcycle as mc
from tests.crafted_skops import PAYLOADS, Target
from tests.registry.test_crafted_models import register_crafted
from tests.serving.conftest import free_port, serve_process

PLACES = ("top", "column_transformer")


@pytest.fixture(scope="module")
def crafted_workspace(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[mc.Workspace, dict[str, Target]]]:
    """A workspace with one version per crafted file, and one legitimate model ("fine")."""
    root = tmp_path_factory.mktemp("crafted-serve")
    ws = mc.Workspace(root / "ws")
    targets = {}
    for payload in PAYLOADS:
        for place in PLACES:
            folder = root / f"{payload.name}-{place}"
            folder.mkdir()
            version, targets[version.ref] = register_crafted(ws, folder, payload, place)
    with ws.start_run(experiment="crafted", name="fine") as run:
        run.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), signature=[{"x": 0.5}])
    ws.registry.register(run, name="fine")
    ws.registry.promote("fine", 1, force=True)
    yield ws, targets
    ws.close()


@pytest.fixture
def server(
    crafted_workspace: tuple[mc.Workspace, dict[str, Target]], tmp_path: Path
) -> Iterator[str]:
    """``modelcycle serve`` for every crafted version and "fine", until the test ends."""
    ws, targets = crafted_workspace
    port = free_port()
    args = ["-w", str(ws.settings.home), "serve", *targets, "fine", "--no-auth"]
    args += ["--port", str(port), "--poll-interval", "0.2"]
    environment = {**os.environ, "MODELCYCLE_LOG_ROOT": str(tmp_path / "logs")}
    with serve_process(args, tmp_path / "serve.out", environment):
        yield f"http://127.0.0.1:{port}"


def _first_refresh(url: str) -> httpx.Response:
    """``/health/ready`` once every served reference was tried (or fail after 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health/ready")
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if "models are loading" not in response.text:
            return response
        time.sleep(0.1)
    raise AssertionError("the server did not try its models within 60 s")


@pytest.mark.slow
def test_serve_refuses_every_crafted_model_and_serves_the_others(
    crafted_workspace: tuple[mc.Workspace, dict[str, Target]], server: str
) -> None:
    _, targets = crafted_workspace
    ready = _first_refresh(server)
    assert ready.status_code == 503, ready.text
    message = ready.json()["error"]["message"]
    for ref in targets:
        assert f"{ref}: model package" in message and "outside the allow-list" in message, ref
    fine = httpx.post(f"{server}/v1/models/fine/predict", json={"rows": [{"x": 2.0}]})
    assert fine.status_code == 200, fine.text
    assert fine.json()["predictions"] == [pytest.approx(4.0)]
    for ref in list(targets)[:4]:
        refused = httpx.get(f"{server}/v2/models/{ref.split('/')[0]}/ready")
        assert refused.status_code == 503 and "is not loaded yet" in refused.text, refused.text
    time.sleep(0.5)  # more refreshes: each tries the crafted files again
    assert httpx.get(f"{server}/health/live").status_code == 200
    assert [ref for ref, target in targets.items() if target.marker.exists()] == []
