"""MLflow's own client, and an ordinary MLflow script with autologging, logging into a
workspace through ``modelcycle serve`` (issue 18).

The script runs in its own process with nothing but ``MLFLOW_TRACKING_URI`` and
``MLFLOW_TRACKING_TOKEN`` (an API key) set, as a user's would; its runs must then be in
``ws.runs()`` and ``modelcycle runs list``. The client's calls are checked one by one
in this process, and the guards with raw requests (MLflow's error shape, its status).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._serve import serve
from modelcycle.cli._settings_options import resolve_setting_options
from modelcycle.core import PermissionDenied
from tests.models import run_cli
from tests.serving.conftest import make_app, running
from tests.serving.shapes import refusal

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mc.Workspace]:
    workspace = mc.Workspace(tmp_path_factory.mktemp("mlflow") / "ws")
    for user, role in (("mia", "maintainer"), ("vic", "viewer"), ("pat", "predictor")):
        workspace.security.create_user(user, actor="test")
        workspace.security.grant(user, role, actor="test")
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def keys(ws: mc.Workspace) -> dict[str, str]:
    return {
        role: ws.security.create_key(user, role, actor="test")[0]
        for user, role in (("mia", "maintainer"), ("vic", "viewer"), ("pat", "predictor"))
    }


@pytest.fixture(scope="module")
def base(ws: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of no model: only the MLflow tracking API and the probes."""
    app = make_app(ws, tmp_path_factory.mktemp("log"), secure=True, models=())
    with running(app) as url:
        yield url


@pytest.fixture
def mlflow_env(base: str, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """MLflow's client in this process, pointed at the server with a maintainer's key."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", base)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", keys["maintainer"])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return base


SCRIPT = textwrap.dedent(
    """
    import json, os, sys, tempfile

    import lightgbm as lgb
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    mlflow.set_experiment("iris")
    mlflow.sklearn.autolog()
    with mlflow.start_run(run_name="logistic") as sk:
        LogisticRegression(max_iter=200).fit(X, y)
    mlflow.sklearn.autolog(disable=True)
    mlflow.lightgbm.autolog()
    with mlflow.start_run(run_name="boosted") as boosted:
        train = lgb.Dataset(X, y)
        params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 4}
        lgb.train(params, train, num_boost_round=4, valid_sets=[train], valid_names=["train"])
    with mlflow.start_run(run_name="manual") as manual:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tags({"team": "fraud", "stage": "dev"})
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "notes.txt"), "w") as handle:
            handle.write("hello")
        mlflow.log_artifact(os.path.join(folder, "notes.txt"), artifact_path="docs")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("inner", 2.0)
    found = mlflow.search_runs(experiment_names=["iris"], filter_string="params.lr = '0.1'")
    model = mlflow.pyfunc.load_model(f"runs:/{boosted.info.run_id}/model")
    json.dump(
        {
            "sklearn": sk.info.run_id,
            "lightgbm": boosted.info.run_id,
            "manual": manual.info.run_id,
            "child": child.info.run_id,
            "searched": found["run_id"].tolist(),
            "predicted": model.predict(X[:2]).shape[0],
            "notes": mlflow.artifacts.load_text(f"runs:/{manual.info.run_id}/docs/notes.txt"),
        },
        sys.stdout,
    )
    """
)


@pytest.fixture(scope="module")
def script_runs(
    ws: mc.Workspace, base: str, keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """Run an ordinary MLflow script, autologging included, in its own process."""
    folder = tmp_path_factory.mktemp("script")
    script = folder / "train.py"
    script.write_text(SCRIPT)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELCYCLE_"))},
        "MLFLOW_TRACKING_URI": base,
        "MLFLOW_TRACKING_TOKEN": keys["maintainer"],
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=folder,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Encountered unexpected error during" not in done.stderr, done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_an_mlflow_script_logs_into_the_workspace(
    ws: mc.Workspace, script_runs: dict[str, object]
) -> None:
    runs = {run.name: run for run in ws.runs("iris")}
    assert set(runs) == {"logistic", "boosted", "manual", "child"}
    assert {run.status for run in runs.values()} == {"FINISHED"}
    sklearn, boosted, manual = runs["logistic"], runs["boosted"], runs["manual"]
    assert sklearn.run_id == script_runs["sklearn"] and sklearn.params["max_iter"] == "200"
    assert "training_accuracy_score" in sklearn.metrics
    assert boosted.params["num_leaves"] == "4" and "train-multi_logloss" in boosted.metrics
    assert [v for _, v, _ in boosted.metric_history("train-multi_logloss")][-1] > 0
    assert manual.params == {"lr": "0.1", "depth": "3"}
    assert [v for _, v, _ in manual.metric_history("loss")] == [1.0, 0.5, 1 / 3]
    assert manual.tags["team"] == "fraud" and manual.user and manual.source
    assert runs["child"].parent_run_id == manual.run_id
    assert script_runs["searched"] == [manual.run_id] and script_runs["notes"] == "hello"
    assert script_runs["predicted"] == 2
    paths = {artifact["path"] for artifact in boosted.artifacts}
    assert any(p.startswith("models/m-") and p.endswith("/MLmodel") for p in paths)
    assert manual.read_artifact("docs/notes.txt") == b"hello"
    assert [d["role"] for d in sklearn.datasets] == ["train"]


def test_the_runs_are_in_the_cli(
    ws: mc.Workspace, script_runs: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(ws.settings.home)
    code, out, _ = run_cli(capsys, "--workspace", home, "runs", "list", "-e", "iris", "--json")
    assert code == 0
    listed = {run["name"]: run for run in json.loads(out)}
    assert set(listed) == {"logistic", "boosted", "manual", "child"}
    assert listed["manual"]["run_id"] == script_runs["manual"]


def test_the_client_call_by_call(mlflow_env: str, ws: mc.Workspace) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    assert client.get_experiment("0").name == "default"
    experiment = client.create_experiment("calls")
    assert client.get_experiment_by_name("calls").experiment_id == experiment
    assert client.get_experiment_by_name("nothing") is None
    with pytest.raises(MlflowException, match="RESOURCE_ALREADY_EXISTS"):
        client.create_experiment("calls")
    run = client.create_run(experiment, run_name="one", tags={"mlflow.user": "ann"})
    run_id = run.info.run_id
    assert len(run_id) == 32 and run.info.status == "RUNNING" and run.info.user_id == "ann"
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(1500)]
    for start in range(0, 1500, 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    client.log_batch(run_id, params=[Param("p", "1")], tags=[RunTag("t", "x")])
    client.log_param(run_id, "p", "1")  # the same value again: fine
    with pytest.raises(MlflowException, match=r"INVALID_PARAMETER_VALUE.*immutable"):
        client.log_param(run_id, "p", "2")
    history = client.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(1500))
    client.set_tag(run_id, "mlflow.runName", "renamed")
    client.set_terminated(run_id, "KILLED")
    assert ws.get_run(run_id).name == "renamed" and ws.get_run(run_id).status == "KILLED"
    got = client.get_run(run_id)
    assert got.data.metrics == {"m": 1499.0} and got.data.params == {"p": "1"}
    found = client.search_runs([experiment], "metrics.m > 10 and tags.t = 'x'", max_results=1)
    assert [r.info.run_id for r in found] == [run_id]
    assert client.search_experiments(filter_string="name LIKE 'cal%'")[0].name == "calls"


def test_a_run_without_heartbeats_stays_running(mlflow_env: str, ws: mc.Workspace) -> None:
    """A run an MLflow client opened is not ended as KILLED by the next read (no heartbeat
    comes from an MLflow client; such a run is ended only after a day without a metric)."""
    from mlflow import MlflowClient

    run_id = MlflowClient().create_run("0").info.run_id
    assert ws.get_run(run_id).status == "RUNNING" and ws.runs(limit=None)
    assert ws.get_run(run_id).experiment == "default"


def test_roles_decide_who_reads_and_who_logs(base: str, keys: dict[str, str]) -> None:
    def call(role: str | None, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {keys[role]}"} if role else {}
        method = "POST" if body is not None else "GET"
        return httpx.request(method, f"{base}{API}{path}", json=body, headers=headers)

    created = call("maintainer", "/runs/create", {"experiment_id": "0"})
    assert created.status_code == 200, created.text
    run_id = created.json()["run"]["info"]["run_id"]
    assert call("viewer", f"/runs/get?run_id={run_id}").status_code == 200
    for role, status, code in (
        ("viewer", 403, "PERMISSION_DENIED"),
        ("predictor", 403, "PERMISSION_DENIED"),
        (None, 401, "UNAUTHENTICATED"),
    ):
        answer = call(role, "/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1})
        assert answer.status_code == status and refusal(answer).code == code
    assert call("predictor", f"/runs/get?run_id={run_id}").status_code == 403


BAD_RUN_IDS = ["x" * 32, "A" * 32, "0" * 31, "0" * 33, "０" * 32, "../" + "0" * 29]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "expected"),
    [
        *[
            ("/runs/log-metric", {"run_id": bad, "key": "m", "value": 1}, 400,
             "INVALID_PARAMETER_VALUE", "32 lowercase hexadecimal")
            for bad in BAD_RUN_IDS
        ],
        ("/runs/log-metric", {"run_id": "0" * 32, "key": "m", "value": 1}, 404,
         "RESOURCE_DOES_NOT_EXIST", "does not exist"),
        ("/runs/log-metric", {"run_id": "{run}", "key": "m", "value": "NaN"}, 400,
         "INVALID_PARAMETER_VALUE", "finite number"),
        ("/runs/log-metric", {"run_id": "{run}", "key": "m\ud800", "value": 1}, 400,
         "INVALID_PARAMETER_VALUE", "surrogate"),
        ("/runs/log-metric", {"run_id": "{run}", "key": "a/../b\n", "value": 1}, 400,
         "INVALID_PARAMETER_VALUE", "metric name"),
        ("/runs/log-parameter", {"run_id": "{run}", "key": "k", "value": "x" * 6001}, 400,
         "INVALID_PARAMETER_VALUE", "6000"),
        ("/runs/log-batch", {"run_id": "{run}", "metrics": [{"key": "m", "value": 1}] * 1001},
         400, "INVALID_PARAMETER_VALUE", "at most 1000"),
        ("/runs/log-batch", {"run_id": "{run}", "tags": [{"key": f"t{i}"} for i in range(101)]},
         400, "INVALID_PARAMETER_VALUE", "at most 100"),
        ("/runs/update", {"run_id": "{run}", "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE",
         "not known"),
        ("/runs/create", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST", "'999'"),
        ("/experiments/create", {"name": "a/../b"}, 400, "INVALID_PARAMETER_VALUE", "name"),
        ("/experiments/create", {"name": "x" * 300}, 400, "INVALID_PARAMETER_VALUE", "250"),
        ("/runs/search", {"filter": "metrics.m >"}, 400, "INVALID_PARAMETER_VALUE", "filter"),
        ("/runs/search", {"page_token": "garbage"}, 400, "INVALID_PARAMETER_VALUE", "page_token"),
        ("/runs/search", {"page_token": "eyJvZmZzZXQiOiAtMX0="}, 400, "INVALID_PARAMETER_VALUE",
         "page_token"),
        ("/experiments/search", {"filter": "tags.x = 'y'"}, 400, "INVALID_PARAMETER_VALUE",
         "not supported"),
        ("/logged-models", {"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE",
         "source_run_id"),
        ("/traces/search", {}, 404, "ENDPOINT_NOT_FOUND", "not served"),
        ("/runs/log-metric", "{", 400, "INVALID_PARAMETER_VALUE", "JSON"),
    ],
)  # fmt: skip
def test_refusals_in_mlflows_shape_and_status(
    base: str,
    keys: dict[str, str],
    path: str,
    body: object,
    status: int,
    code: str,
    expected: str,
) -> None:
    headers = {"Authorization": f"Bearer {keys['maintainer']}", "Content-Type": "application/json"}
    run = httpx.post(f"{base}{API}/runs/create", json={"experiment_id": "0"}, headers=headers)
    text = body if isinstance(body, str) else json.dumps(body)
    content = text.replace("{run}", run.json()["run"]["info"]["run_id"])
    answer = httpx.post(f"{base}{API}{path}", content=content.encode("utf-8", "surrogatepass"),
                        headers=headers)  # fmt: skip
    assert answer.status_code == status, answer.text
    error = refusal(answer)
    assert error.code == code and expected in error.message, error


@pytest.mark.parametrize(
    ("where", "status"),
    [
        ("{exp}/{run}/artifacts/ok.txt", 200),
        ("{exp}/{run}/artifacts/a/../../x.txt", 404),  # httpx resolves the dots: elsewhere
        ("{exp}/{run}/artifacts/a/%2e%2e/%2e%2e/x.txt", 400),
        ("{exp}/{run}/artifacts/a//b.txt", 400),
        ("{exp}/{run}/artifacts/", 400),
        ("{exp}/{run}/artifacts/mlflow-logged-models/x.json", 400),
        ("{exp}/{run}/artifacts/bad%00name", 400),
        ("{exp}/{run}/artifacts/%ED%A0%80.txt", 400),
        ("{exp}/{run}/elsewhere/x.txt", 404),
        ("{exp}/{other}/artifacts/x.txt", 404),
        ("{exp}/not-a-run/artifacts/x.txt", 404),
    ],
)
def test_artifact_paths_are_checked(
    base: str, keys: dict[str, str], where: str, status: int
) -> None:
    headers = {"Authorization": f"Bearer {keys['maintainer']}"}
    info = httpx.post(f"{base}{API}/runs/create", json={"experiment_id": "0"}, headers=headers)
    run_id = info.json()["run"]["info"]["run_id"]
    path = where.format(exp="0", run=run_id, other="f" * 32)
    answer = httpx.put(f"{base}{ARTIFACTS}/{path}", content=b"data", headers=headers)
    assert answer.status_code == status, answer.text
    if status == 200:
        back = httpx.get(f"{base}{ARTIFACTS}/{path}", headers=headers)
        assert back.content == b"data"
        listed = httpx.get(f"{base}{ARTIFACTS}", params={"path": f"0/{run_id}/artifacts"},
                           headers=headers)  # fmt: skip
        assert listed.json() == {"files": [{"path": "ok.txt", "is_dir": False, "file_size": 4}]}
    else:
        assert refusal(answer).message


def test_a_body_over_the_limit_is_refused_in_mlflows_shape(
    ws: mc.Workspace, keys: dict[str, str], tmp_path: Path
) -> None:
    app = make_app(ws, tmp_path / "log", secure=True, models=(), max_body_bytes=4096)
    headers = {"Authorization": f"Bearer {keys['maintainer']}"}
    with running(app) as url:
        answer = httpx.put(f"{url}{ARTIFACTS}/0/{'0' * 32}/artifacts/big", content=b"x" * 5000,
                           headers=headers)  # fmt: skip
    assert answer.status_code == 413, answer.text
    assert refusal(answer).code == "INVALID_PARAMETER_VALUE"


def test_serve_needs_no_model_to_serve_the_tracking_api() -> None:
    app = typer.Typer()
    app.command()(resolve_setting_options(serve))  # its options, as the CLI builds it
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["serve", "--host", "10.1.2.3"])  # no model named
    assert isinstance(result.exception, PermissionDenied), result.output  # not "missing REFS"
