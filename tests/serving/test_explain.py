"""``?explain=true``: top-k feature contributions per prediction (issue 5)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.serving import load_served
from tests.models import Data
from tests.serving.conftest import make_app, wait_ready

ROWS = [{"age": 60, "income": 52.5, "plan": "b"}, {"age": 20, "income": 40.0, "plan": "a"}]


@pytest.fixture(scope="module")
def client(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = make_app(served, tmp_path_factory.mktemp("log"), explain_top_k=2)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def test_explanations_are_the_largest_contributions(
    client: TestClient, served: mc.Workspace
) -> None:
    response = client.post("/v1/models/churn/predict?explain=true", json={"rows": ROWS})
    assert response.status_code == 200, response.text
    body = response.json()
    model = load_served(served.registry, "churn/1", max_rows=10)
    assert model.pipeline is not None
    found = model.pipeline.contributions(ROWS)
    assert found is not None
    values, names = found
    for row, explanation in enumerate(body["explanations"]):
        assert len(explanation["contributions"]) == 2  # the server's explain_top_k
        assert explanation["base"] == pytest.approx(values[row, -1])
        order = np.argsort(-np.abs(values[row, :-1]), kind="stable")[:2]
        assert [c["feature"] for c in explanation["contributions"]] == [names[i] for i in order]
        assert [c["value"] for c in explanation["contributions"]] == pytest.approx(
            values[row, order]
        )
    log_odds = np.log(body["probabilities"][0][1] / body["probabilities"][0][0])
    assert values[0].sum() == pytest.approx(log_odds, abs=1e-6)


def test_top_k_per_request_and_no_explanations_by_default(client: TestClient) -> None:
    url = "/v1/models/churn/predict?explain=true&top_k=1"
    body = client.post(url, json={"columns": {"age": [33], "income": [50.0], "plan": ["c"]}}).json()
    assert len(body["explanations"]) == 1 and len(body["explanations"][0]["contributions"]) == 1
    plain = client.post("/v1/models/churn/predict", json={"rows": ROWS}).json()
    assert "explanations" not in plain


def test_a_model_without_contributions_is_a_clear_400(client: TestClient, cancer: Data) -> None:
    rows = cancer.x_test.head(1).to_dict(orient="records")
    response = client.post("/v1/models/cancer/predict?explain=true", json={"rows": rows})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "not_explainable"
    assert "'cancer'" in error["message"] and "flavor 'sklearn'" in error["message"]
    assert error["details"]["flavor"] == "sklearn"
    assert (
        client.post("/v1/models/churn/predict?top_k=0&explain=1", json={"rows": ROWS}).status_code
        == 422
    )
