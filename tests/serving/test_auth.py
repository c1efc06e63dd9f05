"""Authorization matrix: every route × every role × every key state, exact status (issue 6)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.security import ROLES, list_events
from tests.models import run_cli
from tests.serving.conftest import make_app, wait_ready
from tests.serving.keys import STATES, Keys, make_keys
from tests.serving.shapes import refusal

ROW = {"age": 60, "income": 52.5, "plan": "b"}
V2_INPUTS = [
    {"name": "age", "shape": [1], "datatype": "INT64", "data": [60]},
    {"name": "income", "shape": [1], "datatype": "FP64", "data": [52.5]},
    {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["b"]},
]

#: (method, path, body) and, per role, the status a valid workspace-wide key gets.
ROUTES: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "predict": (
        "POST",
        "/v1/models/churn/predict",
        {"rows": [ROW]},
        {"admin": 200, "maintainer": 403, "viewer": 403, "predictor": 200},
    ),
    "feedback": (
        "POST",
        "/v1/models/churn/feedback",
        {"labels": [{"request_id": "0" * 32, "label": 1}]},
        {"admin": 202, "maintainer": 403, "viewer": 403, "predictor": 202},
    ),
    "v2_infer": (
        "POST",
        "/v2/models/churn/infer",
        {"inputs": V2_INPUTS},
        {"admin": 200, "maintainer": 403, "viewer": 403, "predictor": 200},
    ),
    "invocations": (
        "POST",
        "/invocations",
        {"dataframe_records": [ROW]},
        {"admin": 200, "maintainer": 403, "viewer": 403, "predictor": 200},
    ),
    "v2_metadata": (
        "GET",
        "/v2/models/churn",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "v2_model_ready": (
        "GET",
        "/v2/models/churn/ready",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "v2_version_infer": (
        "POST",
        "/v2/models/churn/versions/1/infer",
        {"inputs": V2_INPUTS},
        {"admin": 200, "maintainer": 403, "viewer": 403, "predictor": 200},
    ),
    "v2_version_metadata": (
        "GET",
        "/v2/models/churn/versions/1",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "v2_version_ready": (
        "GET",
        "/v2/models/churn/versions/1/ready",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "v2_server": (
        "GET",
        "/v2",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "mlflow_version": (
        "GET",
        "/version",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 200},
    ),
    "models": (
        "GET",
        "/v1/models",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 403},
    ),
    "audit": (
        "GET",
        "/v1/audit",
        None,
        {"admin": 200, "maintainer": 403, "viewer": 403, "predictor": 403},
    ),
    "alerts": (
        "GET",
        "/v1/models/churn/alerts",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 403},
    ),
    "monitoring": (
        "GET",
        "/v1/models/churn/monitoring",
        None,
        {"admin": 200, "maintainer": 200, "viewer": 200, "predictor": 403},
    ),
}
OPEN = (
    "/health/live",
    "/health/ready",
    "/v2/health/live",
    "/v2/health/ready",
    "/metrics",
    "/ready",
    "/ping",
    "/health",
)
#: Routes any valid key may call, whatever model it is scoped to (issue 18).
ANY_KEY = frozenset({"v2_server", "mlflow_version"})


def expected_status(route: str, role: str, state: str) -> int:
    if state in ("none", "wrong", "expired", "revoked"):
        return 401
    if state == "other_model":
        return (
            200 if route in ANY_KEY else 403
        )  # a key scoped to 'cancer' may do nothing on 'churn' or workspace-wide
    return ROUTES[route][3][role]


@pytest.fixture(scope="module")
def keys(served: mc.Workspace) -> Keys:
    return make_keys(served, "matrix")


def matrix_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<home>/predictions`` of a fresh home whose ``reports/churn/monitor.json`` exists
    (so the monitoring route answers 200 to whoever may read it)."""
    home = tmp_path_factory.mktemp("matrix-home")
    report = home / "reports" / "churn" / "monitor.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"model": "churn", "alerts": []}))
    return home / "predictions"


@pytest.fixture(scope="module")
def client(
    served: mc.Workspace, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    log_dir = matrix_log_dir(tmp_path_factory)
    app = make_app(served, log_dir, secure=True, models=("churn", "cancer"))
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def call(client: Any, route: str, headers: dict[str, str]) -> Any:
    method, path, body, _ = ROUTES[route]
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_authorization_matrix(
    client: TestClient, keys: Keys, route: str, role: str, state: str
) -> None:
    response = call(client, route, keys.header(role, state))
    expected = expected_status(route, role, state)
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert refusal(response).is_code("unauthenticated")
    if expected == 403:
        error = refusal(response)
        assert error.is_code("permission_denied") and "may not" in error.message
        assert not error.details or error.details["action"] in error.message
    for key in keys.texts():
        assert key not in response.text


@pytest.mark.parametrize("path", OPEN)
def test_health_and_metrics_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_forbidden_names_the_action_and_model(client: TestClient, keys: Keys) -> None:
    response = call(client, "predict", keys.header("predictor", "other_model"))
    error = response.json()["error"]
    assert "may not predict model 'churn'" in error["message"]
    assert error["details"] == {
        "user": "matrix-predictor-scoped",
        "action": "predict",
        "model": "churn",
    }


def test_malformed_header_and_not_a_key(client: TestClient) -> None:
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-key", "mc_" + "x" * 43):
        response = client.get("/v1/models", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_served_models_and_audit_listing(
    client: TestClient, keys: Keys, served: mc.Workspace
) -> None:
    models = client.get("/v1/models", headers=keys.header("viewer", "valid")).json()["models"]
    assert [(m["ref"], m["name"], m["ready"]) for m in models] == [
        ("churn@champion", "churn", True),
        ("cancer@champion", "cancer", True),
    ]
    admin = keys.header("admin", "valid")
    events = client.get("/v1/audit?action=key.revoke&limit=2", headers=admin).json()["events"]
    assert len(events) == 2 and {e["action"] for e in events} == {"key.revoke"}
    assert events[-1]["hash"] == list_events(served.db, action="key.revoke")[-1].hash
    bad = client.get("/v1/audit?limit=0", headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"


def test_failed_auth_is_counted_and_logged_without_the_key(
    client: TestClient, keys: Keys, served: mc.Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelcycle"):
        for role in ROLES:
            for state in STATES:
                call(client, "predict", keys.header(role, state))
    metrics = client.get("/metrics").text
    for reason in ("missing", "unknown", "expired", "revoked"):
        assert f'modelcycle_auth_failures_total{{reason="{reason}"}}' in metrics
    assert "refused API key mc_" in caplog.text and "(revoked)" in caplog.text
    audit = json.dumps([e.to_dict() for e in list_events(served.db)])
    for key in keys.texts():
        secret = key[8:]  # everything past the public prefix
        assert secret not in caplog.text and secret not in metrics and secret not in audit


def test_rate_limit_answers_429_with_retry_after(
    served: mc.Workspace, keys: Keys, tmp_path: Path
) -> None:
    app = make_app(
        served, tmp_path, secure=True, models=("churn",), rate_limit_per_s=0.5, rate_limit_burst=2
    )
    headers = keys.header("predictor", "valid")
    with TestClient(app) as test_client:
        wait_ready(test_client)
        statuses = [call(test_client, "predict", headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = call(test_client, "predict", headers)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        other = call(test_client, "predict", keys.header("admin", "valid"))
        assert other.status_code == 200  # buckets are per key
        assert 'kind="rate_limited"' in test_client.get("/metrics").text


@pytest.mark.parametrize(("ttl", "after_revoke"), [(30.0, 200), (0.0, 401)])
def test_revocation_takes_effect_within_the_cache_ttl(
    served: mc.Workspace, tmp_path: Path, ttl: float, after_revoke: int
) -> None:
    user = f"ttl-{int(ttl)}"
    served.security.create_user(user, actor="test")
    served.security.grant(user, "predictor", actor="test")
    key, info = served.security.create_key(user, "predictor")
    app = make_app(served, tmp_path, secure=True, models=("churn",), auth_cache_ttl_s=ttl)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as test_client:
        wait_ready(test_client)
        assert call(test_client, "predict", headers).status_code == 200
        served.security.revoke_key(info.prefix, actor="test")
        assert call(test_client, "predict", headers).status_code == after_revoke


def test_auth_off_allows_everything(served: mc.Workspace, tmp_path: Path) -> None:
    app = make_app(served, tmp_path, models=("churn",))
    with TestClient(app) as test_client:
        wait_ready(test_client)
        assert call(test_client, "predict", {}).status_code == 200
        assert test_client.get("/v1/models").status_code == 200


@pytest.mark.parametrize(("ttl", "after_disable"), [(30.0, 200), (0.0, 401)])
def test_users_disable_takes_effect_within_the_cache_ttl(
    served: mc.Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ttl: float,
    after_disable: int,
) -> None:
    user = f"disable-{int(ttl)}"
    served.security.create_user(user, actor="test")
    served.security.grant(user, "predictor", actor="test")
    key, _ = served.security.create_key(user, "predictor")
    app = make_app(served, tmp_path, secure=True, models=("churn",), auth_cache_ttl_s=ttl)
    headers = {"Authorization": f"Bearer {key}"}
    home = str(served.settings.home)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        assert call(test_client, "predict", headers).status_code == 200
        code, out, err = run_cli(capsys, "-w", home, "users", "disable", user)
        assert code == 0 and f"disabled user {user}" in out, err
        refused = call(test_client, "predict", headers)
        assert refused.status_code == after_disable
        if after_disable == 401:
            assert refused.json()["error"]["details"] == {"reason": "disabled"}
        code, out, _ = run_cli(capsys, "-w", home, "users", "enable", user)
        assert code == 0 and f"enabled user {user}" in out
        assert call(test_client, "predict", headers).status_code == 200
    actions = [e.action for e in list_events(served.db, target=f"user:{user}")]
    assert actions[-2:] == ["user.disable", "user.enable"]
