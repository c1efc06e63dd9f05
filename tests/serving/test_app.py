"""The /v1 routes, validation and the error shape, in process (issue 5)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from tests.models import Data
from tests.serving.conftest import make_app, wait_ready

GOOD = {"age": 60, "income": 52.5, "plan": "b"}


@pytest.fixture(scope="module")
def client(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = make_app(served, tmp_path_factory.mktemp("log"), max_rows=5, max_body_bytes=4096)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return dict(body["error"])


def test_rows_predict_with_class_probabilities(client: TestClient) -> None:
    response = client.post("/v1/models/churn/predict", json={"rows": [GOOD, {**GOOD, "age": 20}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "churn" and body["version"] == 1
    assert body["predictions"] == [1, 0] and body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])
    assert len(body["request_id"]) == 32


def test_columns_give_the_same_answer_as_rows(client: TestClient) -> None:
    rows = client.post("/v1/models/churn@champion/predict", json={"rows": [GOOD]}).json()
    columns = {name: [value] for name, value in GOOD.items()}
    by_column = client.post("/v1/models/churn/1/predict", json={"columns": columns})
    assert by_column.status_code == 404  # only the served references answer
    by_column = client.post("/v1/models/churn/predict", json={"columns": columns}).json()
    assert by_column["probabilities"] == rows["probabilities"]


def test_a_trained_model_requires_its_columns_but_accepts_nulls(client: TestClient) -> None:
    """Issue 12: ``{"rows": [{}]}`` used to get 200 from a model trained on these columns."""
    for body in (
        {"rows": [{"age": 30}]},
        {"rows": [{}]},
        {"columns": {"age": [30], "plan": ["a"]}},
    ):
        response = client.post("/v1/models/churn/predict", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert "it is missing" in error["message"] and error["details"]["absent"] is True
    sent_as_null = {"rows": [{"age": 30, "income": None, "plan": None}]}
    assert client.post("/v1/models/churn/predict", json=sent_as_null).status_code == 200


def test_scikit_learn_flavor_through_pandas(client: TestClient, cancer: Data) -> None:
    rows = cancer.x_test.head(3).to_dict(orient="records")
    body = client.post("/v1/models/cancer/predict", json={"rows": rows}).json()
    assert body["model"] == "cancer" and len(body["probabilities"]) == 3
    assert body["predictions"] == [int(v) for v in body["predictions"]]


def test_regressor_has_no_probabilities(client: TestClient) -> None:
    rows = [{"mean radius": 14.0, "mean texture": 19.0}]
    body = client.post("/v1/models/area/predict", json={"rows": rows}).json()
    assert "probabilities" not in body and 400 < body["predictions"][0] < 900


@pytest.mark.parametrize(
    ("rows", "field", "expected"),
    [
        ([{**GOOD, "colour": "red"}], "colour", "model expects"),
        ([{"age": 60, "income": 1.0}], "plan", "required"),
        ([GOOD, {**GOOD, "age": "sixty"}], "age", "a number"),
        ([{**GOOD, "income": True}], "income", "a number"),
        ([{**GOOD, "plan": "z"}], "plan", "allowed values"),
        ([{**GOOD, "plan": 3}], "plan", "a string"),
        ([{**GOOD, "income": None}], "income", "may not be null"),
    ],
)
def test_bad_rows_are_422_naming_row_field_value(
    client: TestClient, rows: list[dict[str, Any]], field: str, expected: str
) -> None:
    error = error_of(client.post("/v1/models/strict/predict", json={"rows": rows}), 422, "invalid")
    assert error["details"]["field"] == field
    assert expected in error["message"] or expected in str(error["details"])
    if field != "colour":
        assert error["details"]["row"] == len(rows) - 1
        assert error["details"]["value"] == rows[-1].get(field)


def test_nan_where_not_nullable_is_422(client: TestClient) -> None:
    content = b'{"rows": [{"age": 60, "income": NaN, "plan": "a"}]}'
    response = client.post(
        "/v1/models/strict/predict", content=content, headers={"content-type": "application/json"}
    )
    error = error_of(response, 422, "invalid")
    assert error["details"]["value"] == "nan" and error["details"]["field"] == "income"


def test_nan_literal_is_a_missing_value_where_allowed(client: TestClient) -> None:
    # Python's json.dumps writes NaN for a missing float; orjson refuses the literal, so
    # the server decodes such bodies again with json (see serving/_json.py).
    content = b'{"rows": [{"age": 60, "income": NaN, "plan": "a"}]}'
    response = client.post(
        "/v1/models/churn/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_infinity_is_422(client: TestClient) -> None:
    content = b'{"rows": [{"age": 60, "income": Infinity, "plan": "a"}]}'
    response = client.post(
        "/v1/models/churn/predict", content=content, headers={"content-type": "application/json"}
    )
    assert error_of(response, 422, "invalid")["details"]["expected"].startswith("a finite")


def test_columns_of_different_lengths_are_422(client: TestClient) -> None:
    columns = {"age": [1, 2], "income": [1.0], "plan": ["a", "b"]}
    response = client.post("/v1/models/strict/predict", json={"columns": columns})
    assert "lengths" in error_of(response, 422, "invalid")["details"]


def test_too_many_rows_is_413(client: TestClient) -> None:
    response = client.post("/v1/models/churn/predict", json={"rows": [GOOD] * 6})
    assert error_of(response, 413, "too_large")["details"] == {"rows": 6, "limit": 5}


def test_too_large_body_is_413(client: TestClient) -> None:
    response = client.post("/v1/models/churn/predict", json={"rows": [{"plan": "x" * 5000}]})
    assert error_of(response, 413, "too_large")["details"]["limit"] == 4096


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"rows": [1, 2]}', b"{}", b'{"rows": [], "columns": {}}', b"[]"],
)
def test_malformed_bodies_are_422(client: TestClient, content: bytes) -> None:
    response = client.post(
        "/v1/models/churn/predict", content=content, headers={"content-type": "application/json"}
    )
    error_of(response, 422, "invalid")


def test_empty_rows_are_422(client: TestClient) -> None:
    error_of(client.post("/v1/models/churn/predict", json={"rows": []}), 422, "invalid")


def test_unknown_model_and_route_are_404(client: TestClient) -> None:
    error = error_of(
        client.post("/v1/models/nope/predict", json={"rows": [GOOD]}), 404, "not_found"
    )
    assert "served" not in error["details"] and "churn" not in error["message"]  # issue 11
    error_of(client.post("/v1/models/bad%20name/predict", json={"rows": [GOOD]}), 422, "invalid")
    error_of(client.get("/v1/nothing"), 404, "not_found")
    error_of(client.get("/v1/models/churn/predict"), 405, "method_not_allowed")


def test_health_and_metrics(client: TestClient) -> None:
    live = client.get("/health/live").json()
    assert live == {"status": "live", "models": {}, "worker": os.getpid()}
    ready = client.get("/health/ready").json()
    assert ready["models"] == {
        "churn@champion": 1,
        "strict@champion": 1,
        "cancer@champion": 1,
        "area@champion": 1,
    }
    client.post("/v1/models/churn/predict", json={"rows": [GOOD]})
    refused = client.post("/v1/models/churn/predict", json={"rows": [{**GOOD, "age": "x"}]})
    assert refused.status_code == 422  # counted as invalid, whichever test ran before
    text = client.get("/metrics").text
    assert (
        'modelcycle_predict_requests_total{model="churn",protocol="v1",route="primary",version="1"}'
        in text
    )
    assert 'modelcycle_predict_errors_total{kind="invalid"}' in text
    assert "modelcycle_predict_latency_seconds_bucket" in text


def test_not_ready_until_loaded(served: mc.Workspace, tmp_path: Path) -> None:
    app = make_app(served, tmp_path, models=("churn", "ghost"))
    with TestClient(app) as test_client:
        deadline = time.monotonic() + 30
        while not test_client.post("/v1/models/churn/predict", json={"rows": [GOOD]}).is_success:
            assert time.monotonic() < deadline, "churn was never served"
            time.sleep(0.05)
        error = error_of(test_client.get("/health/ready"), 503, "not_ready")
        assert "ghost" in error["message"] and "not registered" in error["message"]
        assert test_client.get("/health/live").status_code == 200
        response = test_client.post("/v1/models/ghost/predict", json={"rows": [GOOD]})
        error_of(response, 503, "not_ready")


def _errors(client: TestClient, kind: str) -> float:
    prefix = f'modelcycle_predict_errors_total{{kind="{kind}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_bodies_refused_before_the_service_are_counted(client: TestClient) -> None:
    invalid, too_large = _errors(client, "invalid"), _errors(client, "too_large")
    headers = {"content-type": "application/json"}
    client.post("/v1/models/churn/predict", content=b"{not json", headers=headers)
    client.post("/v1/models/churn/predict", json={"rows": [{"plan": "x" * 5000}]})
    assert _errors(client, "invalid") == invalid + 1
    assert _errors(client, "too_large") == too_large + 1


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    too_large = _errors(client, "too_large")
    chunks = (b'{"rows": [{"plan": "' if i == 0 else b"x" * 1000 for i in range(6))
    response = client.post(
        "/v1/models/churn/predict", content=chunks, headers={"content-type": "application/json"}
    )
    assert error_of(response, 413, "too_large")["details"] == {"limit": 4096}
    assert _errors(client, "too_large") == too_large + 1
