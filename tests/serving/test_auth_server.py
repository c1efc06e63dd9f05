"""API keys over real HTTP (uvicorn on 127.0.0.1), and schemathesis on our OpenAPI (issue 6)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import modelcycle as mc
from modelcycle.security import ROLES
from tests.serving.conftest import make_app, running
from tests.serving.keys import Keys, make_keys
from tests.serving.test_auth import ROUTES, call, expected_status
from tests.serving.test_fuzz import encode, paths, spoiled_at


@pytest.fixture(scope="module")
def keys(served: mc.Workspace) -> Keys:
    return make_keys(served, "http")


@pytest.fixture(scope="module")
def base(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(served, tmp_path_factory.mktemp("log"), secure=True, models=("churn", "cancer"))
    with running(app) as url:
        yield url


@pytest.mark.parametrize("state", ["none", "revoked", "other_model", "valid"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ["predict", "feedback", "v2_infer", "models", "audit"])
def test_matrix_over_http(base: str, keys: Keys, route: str, role: str, state: str) -> None:
    with httpx.Client(base_url=base) as http:
        response = call(http, route, keys.header(role, state))
    assert response.status_code == expected_status(route, role, state), response.text


def test_openapi_conformance(base: str, keys: Keys) -> None:
    """schemathesis on every operation: no 5xx; each response matches its documented
    status, content type and schema (15 examples per operation, with an admin key)."""
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = keys.header("admin", "valid")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def conforms(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=checks)

        conforms()


#: The operations that read a request body: what the server lets in (issue 11).
BODY_OPERATIONS = (
    "POST /v1/models/{ref}/predict",
    "POST /v1/models/{ref}/feedback",
    "POST /v2/models/{name}/infer",
    "POST /invocations",
)


def test_openapi_negative_bodies_are_refused(base: str, keys: Keys) -> None:
    """schemathesis's negative mode on every operation with a body: bodies that break the
    schema are refused 4xx, never 5xx, and the server stays live (60 per operation)."""
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = keys.header("admin", "valid")
    checks = [not_a_server_error, negative_data_rejection, content_type_conformance]
    operations = {
        f"{op.method.upper()} {op.path}": op
        for op in (result.ok() for result in api.get_all_operations())
    }
    assert set(BODY_OPERATIONS) <= set(operations)

    for name in BODY_OPERATIONS:

        @given(case=operations[name].as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def refused(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=checks)
            assert httpx.get(f"{base}/health/live").status_code == 200

        refused()


#: What a schema-valid body gets in one place (a value or a key) in the run below.
SPOILERS = ["\ud800", "a\udfffb", {"\udc00": 1}, 4e38, -1e308, float("nan"), "x" * 100_000]


def test_openapi_bodies_with_a_hostile_value_are_never_a_server_error(
    base: str, keys: Keys
) -> None:
    """schemathesis's bodies for every body route (issue 11), each spoiled in one place by
    a lone surrogate, a number past float32, NaN or a huge text, and sent as JSON text
    (the surrogate as a ``\\u`` escape) on one connection: never a 5xx, never a closed
    connection, ``/health/live`` after each (40 per operation)."""
    api = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = {
        f"{op.method.upper()} {op.path}": op
        for op in (result.ok() for result in api.get_all_operations())
    }
    headers = {**keys.header("admin", "valid"), "content-type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for name in BODY_OPERATIONS:
            operation = operations[name]
            names = {"ref": "churn", "name": "churn"}  # a served model: bodies are read
            served_model = {p.name: names[p.name] for p in operation.path_parameters}

            @given(
                case=operation.as_strategy(path_parameters=served_model),
                value=st.sampled_from(SPOILERS),
                where=st.integers(min_value=0),
            )
            @settings(
                max_examples=40,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def spoiled(case: Any, value: Any, where: int) -> None:
                places = list(paths(case.body))[1:]
                body = case.body
                if places:
                    body = spoiled_at(body, places[where % len(places)], value)
                answer = http.post(case.formatted_path, content=encode(body), params=case.query)
                assert answer.status_code < 500, answer.text[:300]
                assert http.get("/health/live").status_code == 200

            spoiled()


def test_routes_cover_the_matrix(base: str) -> None:
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    protected = {path for path in paths if not path.startswith(("/health", "/v2/health"))}
    protected -= {"/metrics", "/ready", "/ping"}
    matrix = {ROUTES[r][1].replace("churn", "{name}") for r in ROUTES}
    matrix = {re.sub(r"/\{name\}/(predict|feedback)$", r"/{ref}/\1", p) for p in matrix}
    matrix = {p.replace("/versions/1", "/versions/{version}") for p in matrix}
    assert protected == matrix
    assert "HTTPBearer" in httpx.get(f"{base}/openapi.json").json()["components"]["securitySchemes"]


def test_keys_never_reach_the_prediction_log(
    served: mc.Workspace, keys: Keys, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    app = make_app(served, log_dir, secure=True, models=("churn",))
    with running(app) as url, httpx.Client(base_url=url) as http:
        assert call(http, "predict", keys.header("predictor", "valid")).status_code == 200
    written = b"".join(p.read_bytes() for p in log_dir.rglob("*.parquet"))
    assert written and all(key.encode() not in written for key in keys.texts())
