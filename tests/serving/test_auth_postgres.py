"""The authorization matrix again, on a workspace whose database is PostgreSQL.

Every route × every role × every key state gets the same status as on SQLite
(:mod:`tests.serving.test_auth`): keys, users, grants and the audit log are read
from PostgreSQL by the server's key checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.security import ROLES
from tests.models import Data, log_logistic
from tests.serving.conftest import make_app, wait_ready
from tests.serving.keys import STATES, Keys, make_keys
from tests.serving.shapes import refusal
from tests.serving.test_auth import ROUTES, call, expected_status, matrix_log_dir

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_workspace(
    postgres_server: str,
    served: mc.Workspace,
    cancer: Data,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[mc.Workspace]:
    """A PostgreSQL workspace serving ``churn`` (the SQLite one's pipeline) and ``cancer``."""
    name = f"modelcycle_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    root = tmp_path_factory.mktemp("postgres-artifacts")
    ws = mc.Workspace(db_url=url, artifact_root=str(root))
    try:
        churn = served.registry.load("churn/1")
        with ws.start_run(experiment="serving", name="churn") as run:
            run.log_model(churn._predictor.pipeline, signature=churn.signature)  # type: ignore[attr-defined]
        ws.registry.register(run, name="churn")
        ws.registry.promote("churn", 1, force=True)
        ws.registry.register(log_logistic(ws, cancer, 1.0), name="cancer")
        ws.registry.promote("cancer", 1, force=True)
        yield ws
    finally:
        ws.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def keys(postgres_workspace: mc.Workspace) -> Keys:
    return make_keys(postgres_workspace, "pg")


@pytest.fixture(scope="module")
def client(
    postgres_workspace: mc.Workspace, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    log_dir = matrix_log_dir(tmp_path_factory)
    app = make_app(postgres_workspace, log_dir, secure=True, models=("churn", "cancer"))
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def test_the_workspace_is_on_postgresql(postgres_workspace: mc.Workspace) -> None:
    assert postgres_workspace.db.display_url.startswith("postgresql")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_authorization_matrix_on_postgresql(
    client: TestClient, keys: Keys, route: str, role: str, state: str
) -> None:
    response = call(client, route, keys.header(role, state))
    expected = expected_status(route, role, state)
    assert response.status_code == expected, response.text
    if expected >= 400:  # in the route's protocol's shape (issue 18)
        assert refusal(response).is_code(
            {401: "unauthenticated", 403: "permission_denied"}[expected]
        )


def test_a_disabled_user_is_refused_at_once_with_no_cache(
    postgres_workspace: mc.Workspace, tmp_path: Path
) -> None:
    security = postgres_workspace.security
    security.create_user("pg-disabled", actor="test")
    security.grant("pg-disabled", "predictor", actor="test")
    key, _ = security.create_key("pg-disabled", "predictor")
    headers = {"Authorization": f"Bearer {key}"}
    app = make_app(
        postgres_workspace, tmp_path / "log", secure=True, models=("churn",), auth_cache_ttl_s=0
    )
    with TestClient(app) as test_client:
        wait_ready(test_client)
        assert call(test_client, "predict", headers).status_code == 200
        security.set_disabled("pg-disabled", True, actor="test")
        refused = call(test_client, "predict", headers)
        assert refused.status_code == 401 and refused.json()["error"]["details"]["reason"] == (
            "disabled"
        )
        security.set_disabled("pg-disabled", False, actor="test")
        assert call(test_client, "feedback", headers).status_code == 202
