"""Sensitive inputs: hashed or dropped in the prediction log, redacted in errors (issue 6)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.packaging import InputSpec, Signature
from modelcycle.serving._privacy import Redactor, workspace_salt
from tests.serving.conftest import STRICT, make_app, wait_ready

PRIVATE = replace(
    STRICT,
    inputs=tuple(replace(s, sensitive=s.name == "income") for s in STRICT.inputs),
)
ROW = {"age": 60, "income": 52.5, "plan": "b"}


@pytest.fixture(scope="module")
def private(served: mc.Workspace) -> mc.Workspace:
    pipeline = served.registry.load("churn/1")._predictor.pipeline  # type: ignore[attr-defined]
    with served.start_run(experiment="serving", name="private") as run:
        run.log_model(pipeline, signature=PRIVATE)
    served.registry.register(run, name="private")
    served.registry.promote("private", 1, force=True)
    return served


def test_signature_round_trip_keeps_the_flag() -> None:
    assert Signature.from_dict(PRIVATE.to_dict()) == PRIVATE
    assert "sensitive" not in STRICT.to_dict()["inputs"][1]  # unchanged for older packages
    assert InputSpec.from_dict({"name": "x", "type": "long"}).sensitive is False


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_sensitive_inputs_in_the_log(private: mc.Workspace, tmp_path: Path, mode: str) -> None:
    log_dir = tmp_path / "log"
    app = make_app(private, log_dir, models=("private",), sensitive_inputs=mode)
    with TestClient(app) as client:
        wait_ready(client)
        for income in (52.5, 52.5, 10.0):
            response = client.post(
                "/v1/models/private/predict", json={"rows": [{**ROW, "income": income}]}
            )
            assert response.status_code == 200, response.text
    logged = [
        json.loads(r[0])
        for r in duckdb.sql(f"select inputs from '{log_dir}/**/*.parquet' order by time").fetchall()
    ]
    assert [row["age"] for row in logged] == [60, 60, 60]
    if mode == "drop":
        assert all("income" not in row for row in logged)
    else:
        hashes = [row["income"] for row in logged]
        assert hashes[0] == hashes[1] != hashes[2] and hashes[0].startswith("sha256:")
        assert "52.5" not in json.dumps(logged)


def test_errors_never_repeat_a_sensitive_value(private: mc.Workspace, tmp_path: Path) -> None:
    app = make_app(private, tmp_path, models=("private",))
    with TestClient(app) as client:
        wait_ready(client)
        response = client.post(
            "/v1/models/private/predict", json={"rows": [{**ROW, "income": "4111-1111"}]}
        )
        plain = client.post("/v1/models/private/predict", json={"rows": [{**ROW, "age": "sixty"}]})
    assert response.status_code == 422 and "4111" not in response.text
    assert "<redacted>" in response.json()["error"]["message"]
    assert "sixty" in plain.text  # other fields still show what arrived


def test_redactor_and_workspace_salt(tmp_path: Path) -> None:
    salt = workspace_salt(tmp_path)
    assert workspace_salt(tmp_path) == salt and len(salt) == 32
    assert os.stat(tmp_path / "prediction-log.salt").st_mode & 0o777 == 0o600
    row = {"a": 1, "email": "x@y.z", "none": None}
    hashed = Redactor("hash", salt).row(row, frozenset({"email", "none"}))
    assert hashed["a"] == 1 and hashed["none"] is None and hashed["email"] != "x@y.z"
    assert Redactor("hash", b"other").hash("x@y.z") != hashed["email"]
