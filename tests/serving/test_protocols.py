"""Open Inference Protocol V2, MLflow /invocations and the error shape, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._serve import check_host, serve
from modelcycle.cli._settings_options import resolve_setting_options
from modelcycle.core import PermissionDenied
from tests.serving.conftest import make_app, running
from tests.serving.shapes import refusal

ROW = {"age": 60, "income": 52.5, "plan": "b"}


@pytest.fixture(scope="module")
def http(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    app = make_app(served, tmp_path_factory.mktemp("log"))
    with running(app) as base, httpx.Client(base_url=base) as client:
        yield client


def test_v2_health_and_metadata(http: httpx.Client) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    meta = http.get("/v2/models/churn").json()
    assert meta["name"] == "churn" and meta["versions"] == ["1"]
    assert [i["datatype"] for i in meta["inputs"]] == ["INT64", "FP64", "BYTES"]
    assert meta["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}


def test_v2_infer_by_column_tensors(http: httpx.Client) -> None:
    inputs = [
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [60, 20]},
        {"name": "income", "shape": [2], "datatype": "FP64", "data": [52.5, 40.0]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["b", "b"]},
    ]
    body = http.post("/v2/models/churn/infer", json={"id": "x1", "inputs": inputs}).json()
    assert body["model_name"] == "churn" and body["model_version"] == "1" and body["id"] == "x1"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}
    assert proba["shape"] == [2, 2] and len(proba["data"]) == 4


def test_v2_infer_by_one_matrix(http: httpx.Client) -> None:
    tensor = {"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [[14.0, 19.0]]}
    body = http.post("/v2/models/area/infer", json={"inputs": [tensor]}).json()
    assert body["outputs"][0]["datatype"] == "FP64" and len(body["outputs"]) == 1
    bad = {**tensor, "shape": [1, 3], "data": [[1.0, 2.0, 3.0]]}
    error = refusal(http.post("/v2/models/area/infer", json={"inputs": [bad]}))
    assert "input-0" in error.message


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["age", "income", "plan"], "data": [[60, 52.5, "b"]]}},
        {"dataframe_records": [ROW]},
        {"inputs": {"age": [60], "income": [52.5], "plan": ["b"]}},
        {"inputs": [ROW]},
        {"inputs": [[60, 52.5, "b"]]},
    ],
)
def test_mlflow_invocations_payloads(http: httpx.Client, payload: dict[str, object]) -> None:
    response = http.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [1]}


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("POST", "/v1/models/churn/predict", {"rows": [{**ROW, "age": "x"}]}, 422),
        ("POST", "/v1/models/ghost/predict", {"rows": [ROW]}, 404),
        ("POST", "/v2/models/ghost/infer", {"inputs": []}, 422),
        ("POST", "/v2/models/ghost/infer", {"inputs": [{"name": "a", "shape": [1],
                                                        "datatype": "FP64", "data": [1]}]}, 404),
        ("POST", "/v2/models/churn/infer", {"inputs": [{"name": "age", "shape": [1],
                                                        "datatype": "BYTES", "data": ["x"]}]}, 422),
        ("GET", "/v2/models/ghost", None, 404),
        ("GET", "/v2/models/ghost/ready", None, 404),
        ("POST", "/invocations", {"dataframe_records": [ROW], "inputs": [ROW]}, 422),
        ("POST", "/invocations", {"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}}, 422),
        ("DELETE", "/metrics", None, 405),
        ("GET", "/nowhere", None, 404),
    ],
)  # fmt: skip
def test_every_error_has_its_protocols_shape(
    http: httpx.Client, method: str, path: str, payload: object, status: int
) -> None:
    response = http.request(method, path, json=payload)
    assert response.status_code == status, response.text
    refusal(response)  # /v1 and ours: the one shape; V2 and MLflow: theirs (issue 18)


def test_metrics_count_each_protocol(http: httpx.Client) -> None:
    http.post("/invocations", json={"dataframe_records": [ROW]})
    text = http.get("/metrics").text
    assert 'protocol="mlflow"' in text and "modelcycle_predict_rows_bucket" in text


def test_openapi_documents_the_routes(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/models/{ref}/predict", "/v2/models/{name}/infer", "/invocations"} <= set(paths)


def test_serve_refuses_a_remote_host_without_allow_remote() -> None:
    with pytest.raises(PermissionDenied, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    check_host("::1", allow_remote=False)
    check_host("localhost", allow_remote=False)
    app = typer.Typer()
    app.command()(resolve_setting_options(serve))  # its options, as the CLI builds it
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["serve", "churn", "--host", "10.1.2.3"])
    assert isinstance(result.exception, PermissionDenied)
