"""What a client sends can be refused, never fail the server (issue 11), over real HTTP.

Before: a lone surrogate in a field name or a refused value failed while the error
was rendered (500), and the connection was then closed under the next request;
``4e38`` passed validation and failed in the model; a 404 named every served model
to a key that may not see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import modelcycle as mc
from tests.serving.conftest import make_app, running
from tests.serving.keys import Keys, make_keys
from tests.serving.shapes import refusal

ROW = {"age": 60, "income": 52.5, "plan": "b"}
JSON = {"content-type": "application/json"}
FLOAT32_MAX = 3.4028234663852886e38


@pytest.fixture(scope="module")
def base(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(served, tmp_path_factory.mktemp("hostile") / "log", models=("churn", "strict"))
    with running(app) as url:
        yield url


def _port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


V2_TENSOR = b'{"inputs":[{"name":%s,"shape":[1],"datatype":"BYTES","data":[%s]}]}'
#: (route, raw body, where the lone surrogate is, as the error names it)
SURROGATES = [
    (
        "/v1/models/churn/predict",
        b'{"rows":[{"age":1,"income":2,"plan":"\\ud800"}]}',
        "row 0, field 'plan'",
    ),
    (
        "/v1/models/churn/predict",
        b'{"rows":[{"age":1},{"in\\udfffcome":2}]}',
        "row 1, field 'in\\udfffcome'",
    ),
    (
        "/v1/models/strict/predict",
        b'{"columns":{"plan":["a","b","\\udc00"]}}',
        "row 2, field 'plan'",
    ),
    ("/v2/models/churn/infer", V2_TENSOR % (b'"\\ud800"', b'"x"'), "inputs[0].name"),
    ("/v2/models/churn/infer", V2_TENSOR % (b'"plan"', b'"\\ud800"'), "inputs[0].data[0]"),
    (
        "/invocations",
        b'{"dataframe_records":[{"age":1,"income":2,"plan":"\\ud800"}]}',
        "row 0, field 'plan'",
    ),
    (
        "/v1/models/churn/feedback",
        b'{"labels":[{"inputs":{"plan":"\\ud800"},"label":1}]}',
        "labels[0].inputs.plan",
    ),
    (
        "/v1/models/churn/feedback",
        b'{"labels":[{"request_id":"\\udbff","label":1}]}',
        "labels[0].request_id",
    ),
]


@pytest.mark.parametrize(("route", "body", "where"), SURROGATES)
def test_a_lone_surrogate_is_422_naming_where_and_the_connection_lives(
    base: str, route: str, body: bytes, where: str
) -> None:
    with httpx.Client(base_url=base) as http:
        refused = http.post(route, content=body, headers=JSON)
        assert refused.status_code == 422, refused.text
        error = refusal(refused)
        assert error.is_code("invalid") and error.message.startswith(where), error
        assert "lone UTF-16 surrogate" in error.message
        after = http.post("/v1/models/churn/predict", json={"rows": [ROW]})
        assert after.status_code == 200 and _port(after) == _port(refused)


@pytest.mark.parametrize(
    "inputs",
    [
        {"rows": [{**ROW, "income": 4e38}]},
        {"rows": [ROW] * 19 + [{**ROW, "income": -4e38}]},  # checked column-wise first
        {"columns": {"age": [60, 61], "income": [1.0, 1e308], "plan": ["a", "b"]}},
    ],
)
def test_numbers_beyond_float32_are_422_naming_the_field_and_bound(
    base: str, inputs: dict[str, Any]
) -> None:
    with httpx.Client(base_url=base) as http:
        answer = http.post("/v1/models/churn/predict", json=inputs)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["details"]["field"] == "income"
        assert "3.4028235e+38" in error["message"] and "float32" in error["message"]
        v2 = {
            "inputs": [
                {"name": "age", "shape": [1], "datatype": "INT64", "data": [1]},
                {"name": "income", "shape": [1], "datatype": "FP64", "data": [4e38]},
                {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"]},
            ]
        }
        assert http.post("/v2/models/churn/infer", json=v2).status_code == 422
        edge = {"rows": [{**ROW, "income": FLOAT32_MAX}, {**ROW, "income": -FLOAT32_MAX}]}
        assert http.post("/v1/models/churn/predict", json=edge).status_code == 200


def test_errors_quote_little_of_what_was_sent(base: str) -> None:
    huge = "x" * 1_000_000
    bodies = [
        {"rows": [{**ROW, "plan": huge}]},  # a value not allowed ('strict' has categories)
        {"rows": [{**ROW, **{f"{huge[:5000]}{i}": 1 for i in range(100)}}]},  # unknown fields
        {"rows": [{**ROW, "age": [[[[[huge]]]]]}]},  # a value of the wrong type
        {"columns": {"plan": [huge] * 3}},
    ]
    with httpx.Client(base_url=base, timeout=60) as http:
        for body in bodies:
            answer = http.post("/v1/models/strict/predict", json=body)
            assert answer.status_code == 422, answer.text[:300]
            assert len(answer.content) < 20_000


def test_an_unexpected_error_answers_500_and_keeps_the_connection(
    served: mc.Workspace, tmp_path: Path
) -> None:
    app: FastAPI = make_app(served, tmp_path / "log", models=("churn",))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug, not the client's fault")

    with running(app) as url, httpx.Client(base_url=url) as http:
        failed = http.get("/boom")
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal"
        after = http.post("/v1/models/churn/predict", json={"rows": [ROW]})
        assert after.status_code == 200 and _port(after) == _port(failed)


@pytest.fixture(scope="module")
def keys(served: mc.Workspace) -> Keys:
    return make_keys(served, "hidden", other_model="cancer")


@pytest.fixture(scope="module")
def secure_base(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(
        served, tmp_path_factory.mktemp("hidden") / "log", secure=True, models=("churn",)
    )
    with running(app) as url:
        yield url


V2_AGE = {"name": "age", "shape": [1], "datatype": "INT64", "data": [1]}
#: Every route that looks a model up by the name in its path, and what it answers for a
#: model this server does not serve ('alerts' reads the workspace's, so it may be 200).
LOOKUPS = [
    ("POST", "/v1/models/{m}/predict", {"rows": [ROW]}, 404),
    ("POST", "/v1/models/{m}/predict?explain=true", {"rows": [ROW]}, 404),
    ("POST", "/v1/models/{m}/feedback", {"labels": [{"request_id": "r", "label": 1}]}, 404),
    ("GET", "/v2/models/{m}", None, 404),
    ("GET", "/v2/models/{m}/ready", None, 404),
    ("POST", "/v2/models/{m}/infer", {"inputs": [V2_AGE]}, 404),
    ("GET", "/v1/models/{m}/alerts", None, 200),
    ("GET", "/v1/models/{m}/monitoring", None, 404),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status"), LOOKUPS)
def test_a_404_never_names_the_served_models(
    secure_base: str, keys: Keys, method: str, path: str, body: Any, status: int
) -> None:
    scoped = keys.header("admin", "other_model")  # may do anything, on 'cancer' only
    wide = keys.header("admin", "valid")
    with httpx.Client(base_url=secure_base) as http:
        for model, headers in (("cancer", scoped), ("nosuchmodel", wide)):
            answer = http.request(method, path.format(m=model), json=body, headers=headers)
            assert answer.status_code == status, answer.text
            assert "churn" not in answer.text, answer.text  # the one model served here
