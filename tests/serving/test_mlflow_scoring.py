"""MLflow's scoring client and payloads on ``/invocations`` (issue 18).

MLflow's own code builds the request bodies (``dump_input_data``: ``dataframe_split``
from a DataFrame, ``inputs``/``instances`` from arrays and dicts) and reads the answers
(``PredictionsResponse``); its ``ScoringServerClient`` pings, asks the version and
predicts against a real uvicorn server. Refusals come back in MLflow's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.deployments import PredictionsResponse
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from mlflow.utils.proto_json_utils import dump_input_data

import modelcycle as mc
from tests.serving.conftest import make_app, running
from tests.serving.shapes import refusal

FRAME = pd.DataFrame({"age": [60, 20, 70], "income": [52.5, 40.0, 61.0], "plan": ["b", "b", "a"]})
# A dict of columns as "inputs" is written out by hand: what dump_input_data makes of a
# dict of arrays, except in MLflow 3.17.x, whose version fails on any dict
# ("for k, v in data" iterates the keys).


@pytest.fixture(scope="module")
def base(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(served, tmp_path_factory.mktemp("log"), models=("churn",))
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def expected(served: mc.Workspace) -> list[int]:
    return [int(label) for label in served.registry.load("churn").predict(FRAME)]


def test_mlflow_scoring_client_pings_and_predicts(base: str, expected: list[int]) -> None:
    port = int(base.rsplit(":", 1)[1])
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=10)
    assert client.get_version() == mc.__version__
    answer = client.invoke(FRAME)  # dataframe_split, with pandas' index
    assert answer.get_predictions(predictions_format="ndarray").tolist() == expected


@pytest.mark.parametrize(
    "body",
    [
        dump_input_data(FRAME),
        json.dumps({"dataframe_records": FRAME.to_dict(orient="records")}),
        dump_input_data(FRAME.to_dict(orient="records"), inputs_key="instances"),
        dump_input_data(FRAME.to_numpy(), inputs_key="instances"),
        json.dumps({"inputs": {k: FRAME[k].tolist() for k in FRAME}}),  # see below
        dump_input_data(FRAME.to_dict(orient="records")),
        dump_input_data(FRAME.to_numpy(), params={"ignored": 1}),
    ],
    ids=[
        "split",
        "records",
        "instances-rows",
        "instances-lists",
        "inputs-dict",
        "inputs",
        "params",
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", None])
def test_every_mlflow_payload(
    base: str, expected: list[int], body: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = httpx.post(f"{base}/invocations", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    predictions = PredictionsResponse.from_json(answer.text).get_predictions("ndarray")
    assert np.asarray(predictions).tolist() == expected


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        ({"dataframe_records": [{"age": "x", "income": 1.0, "plan": "a"}]}, None, 422, "'age'"),
        ({"instances": [[1, 2]]}, None, 422, "row 0 has 2 values"),
        ({"inputs": [[60, 1.0, "a"]], "instances": [[60, 1.0, "a"]]}, None, 422, "exactly one"),
        ({}, None, 422, "exactly one of"),
        ("age,income,plan\n60,1.0,b\n", "text/csv", 415, "expected JSON"),
    ],
)
def test_refusals_have_mlflows_shape(
    base: str, body: object, content_type: str | None, status: int, expected: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = httpx.post(f"{base}/invocations", content=content, headers=headers)
    assert answer.status_code == status, answer.text
    error = refusal(answer)
    assert error.code == "INVALID_PARAMETER_VALUE" and expected in error.message


def test_the_client_reports_a_refusal_with_its_message(base: str) -> None:
    client = ScoringServerClient("127.0.0.1", int(base.rsplit(":", 1)[1]))
    with pytest.raises(Exception, match="INVALID_PARAMETER_VALUE") as raised:
        client.invoke(FRAME.assign(age="x"))
    assert "field 'age'" in str(raised.value)


def test_probes_answer_without_a_key(
    served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app = make_app(served, tmp_path_factory.mktemp("log"), secure=True, models=("churn",))
    with running(app) as url:
        for path in ("/ping", "/health", "/ready"):
            assert httpx.get(f"{url}{path}").status_code == 200, path
        refused = httpx.post(f"{url}/invocations", json={"inputs": []})
        assert refused.status_code == 401 and refusal(refused).code == "UNAUTHENTICATED"
        assert httpx.get(f"{url}/version").status_code == 401
