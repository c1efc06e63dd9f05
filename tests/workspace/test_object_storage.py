"""A workspace whose artifacts live in a bucket: train, register, load and serve (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fsspec
import httpx
import pytest
from sklearn.datasets import load_breast_cancer

import modelcycle as mc
from modelcycle.store import ObjectArtifactStore
from tests.conftest import ObjectStore
from tests.serving.conftest import free_port, http_ready, serve_process


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelcycle", "-w", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_train_register_load_and_serve_from_a_bucket(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    data, home = tmp_path / "cancer.csv", tmp_path / "ws"
    frame.to_csv(data, index=False)
    trained = _cli(
        home, "train", str(data), "-t", "target", "-n", "cancer", "-b", "15", "--promote",
        "--artifacts", object_store.url,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert not (home / "artifacts").exists()  # every artifact went to the bucket
    assert object_store.environment["AWS_SECRET_ACCESS_KEY"] not in trained.stdout + trained.stderr
    blobs = fsspec.filesystem("s3", skip_instance_cache=True).find(
        object_store.url.removeprefix("s3://")
    )
    assert blobs and not [b for b in blobs if "/.partial/" in b]

    row = frame.drop(columns="target").iloc[[0]]
    with mc.Workspace(home, artifact_root=object_store.url) as ws:
        assert isinstance(ws.artifacts, ObjectArtifactStore)
        version = ws.registry.resolve("cancer@champion")
        expected = ws.registry.load("cancer@champion").predict(row)
    assert version.version == 1

    port = free_port()
    output = tmp_path / "serve.out"
    logs = object_store.url.replace("/artifacts", "/logs")
    args = ["-w", str(home), "serve", "cancer", "--artifacts", object_store.url]
    args += ["--log-url", logs, "--workers", "2"]  # each worker process logs to the bucket
    with serve_process([*args, "--port", str(port), "--no-auth"], output):
        url = f"http://127.0.0.1:{port}"
        http_ready(url)
        for _ in range(4):
            answer = httpx.post(
                f"{url}/v1/models/cancer/predict", json={"rows": row.to_dict(orient="records")}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == [int(v) for v in expected]
    assert object_store.environment["AWS_SECRET_ACCESS_KEY"] not in output.read_text()
    segments = fsspec.filesystem("s3", skip_instance_cache=True).find(
        logs.removeprefix("s3://") + "/predictions/cancer"
    )
    assert segments and not list((home / "log-staging").rglob("*.parquet"))

    # 'modelcycle monitor' in another folder, with the same database and URLs.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monitored = subprocess.run(
        [
            sys.executable, "-m", "modelcycle", "-w", f"sqlite:///{home / 'modelcycle.db'}",
            "--artifacts", object_store.url, "--log-url", logs, "monitor", "cancer", "--json",
        ],
        capture_output=True, text=True, timeout=300, cwd=elsewhere,
    )  # fmt: skip
    assert monitored.returncode == 0, monitored.stderr
    assert json.loads(monitored.stdout)["rows"] == 4
    assert object_store.environment["AWS_SECRET_ACCESS_KEY"] not in monitored.stderr
    assert (elsewhere / ".modelcycle" / "log-mirror").is_dir()
