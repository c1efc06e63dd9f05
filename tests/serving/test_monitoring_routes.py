"""A model's alerts and latest monitoring report over ``/v1/models/{name}/...``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.serving import ServeSettings, create_app
from modelcycle.serving._monitoring import MonitoringReader
from modelcycle.serving._workers import WorkerConfig
from modelcycle.store import LogLayout, tables
from tests.serving.conftest import make_app, wait_ready

#: 2030-01-01T00:00:00Z in ms; alerts are an hour apart after it.
BASE_MS = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
REPORT = {"model": "watched", "version": 3, "drift": {"age": {"psi": 0.31}}, "alerts": []}


def add_alert(ws: mc.Workspace, model: str, hour: int, **values: Any) -> None:
    row = {
        "model": model,
        "version": 1,
        "rule": "drift",
        "severity": "warning",
        "value": 0.3 + hour,
        "threshold": 0.2,
        "message": f"{model} alert at hour {hour}",
        "created_at": BASE_MS + hour * HOUR_MS,
        "delivered": json.dumps({"log": "delivered"}),
        **values,
    }
    ws.db.transaction(lambda connection: connection.execute(tables.alerts.insert(), row))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as a workspace home: ``predictions/`` beside ``reports/``.

    It holds watched's report, a broken one and a file outside ``reports/``: every test
    that reads them gets them, whichever test of the module runs first (or alone).
    """
    home = tmp_path_factory.mktemp("monitoring-home")
    report = home / "reports" / "watched" / "monitor.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps(REPORT, indent=2))
    (home / "reports" / "broken").mkdir()
    (home / "reports" / "broken" / "monitor.json").write_text('{"half": ')
    (home / "secret.json").write_text('{"secret": true}')
    return home


@pytest.fixture(scope="module")
def client(served: mc.Workspace, home: Path) -> Iterator[TestClient]:
    for hour in (0, 2, 1, 3):
        add_alert(served, "watched", hour)
    add_alert(served, "unwatched", 5)
    add_alert(served, "watched", 4, version=None, value=None, delivered=None, severity="critical")
    app = make_app(served, home / "predictions", models=("churn",))
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def test_alerts_newest_first_for_that_model_only(client: TestClient) -> None:
    response = client.get("/v1/models/watched/alerts")
    assert response.status_code == 200, response.text
    alerts = response.json()["alerts"]
    assert [a["message"] for a in alerts] == [f"watched alert at hour {h}" for h in (4, 3, 2, 1, 0)]
    newest, second = alerts[0], alerts[1]
    assert newest["time"] == "2030-01-01T04:00:00+00:00"
    assert newest["severity"] == "critical" and newest["delivered"] == {}
    assert newest["version"] is None and newest["value"] is None
    assert set(second) == {
        "id",
        "model",
        "version",
        "rule",
        "severity",
        "value",
        "threshold",
        "message",
        "time",
        "delivered",
    }
    assert second["model"] == "watched" and second["version"] == 1
    assert second["value"] == pytest.approx(3.3) and second["threshold"] == 0.2
    assert second["delivered"] == {"log": "delivered"} and second["rule"] == "drift"
    assert newest["id"] > second["id"]


def test_alerts_since_and_limit(client: TestClient) -> None:
    since = client.get("/v1/models/watched/alerts", params={"since": "2030-01-01T02:00:00Z"})
    assert [a["time"][11:13] for a in since.json()["alerts"]] == ["04", "03", "02"]
    naive = client.get("/v1/models/watched/alerts", params={"since": "2030-01-01T03:00:00"})
    assert len(naive.json()["alerts"]) == 2  # a time without offset is UTC
    offset = client.get("/v1/models/watched/alerts?since=2030-01-01T05:00:00%2B02:00")
    assert [a["time"][11:13] for a in offset.json()["alerts"]] == ["04", "03"]
    limited = client.get("/v1/models/watched/alerts", params={"limit": 2}).json()["alerts"]
    assert [a["time"][11:13] for a in limited] == ["04", "03"]
    assert client.get("/v1/models/nobody/alerts").json() == {"alerts": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("since=yesterday", "since")],
)
def test_bad_alert_queries_are_422(client: TestClient, query: str, field: str) -> None:
    response = client.get(f"/v1/models/watched/alerts?{query}")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["message"]


def test_latest_report_as_stored(client: TestClient) -> None:
    response = client.get("/v1/models/watched/monitoring")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == REPORT


def test_no_report_yet_is_404_saying_what_to_run(client: TestClient) -> None:
    response = client.get("/v1/models/churn/monitoring")
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"] == (
        "no monitoring report for model 'churn' yet; 'modelcycle monitor churn' "
        "or a worker running its policy saves one"
    )


def test_a_report_being_written_is_503(client: TestClient) -> None:
    response = client.get("/v1/models/broken/monitoring")
    assert response.status_code == 503, response.text
    assert "not a JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("%2E%2E", 422),  # '..' reaches the route and is refused
        (".hidden", 422),
        ("a%5Cb", 422),  # a backslash
        ("x" * 101, 422),
        ("churn@champion", 422),  # a reference, not a name
        ("..%2Fsecret.json", 404),  # a '/' in the name matches no route
        ("..", 404),  # the client resolves '/v1/models/../monitoring' to '/v1/monitoring'
    ],
)
@pytest.mark.parametrize("route", ["monitoring", "alerts"])
def test_names_that_are_not_model_names_are_refused(
    client: TestClient, name: str, status: int, route: str
) -> None:
    response = client.get(f"/v1/models/{name}/{route}")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == ("invalid" if status == 422 else "not_found")
    assert "secret" not in response.text.replace("secret.json", "")


@pytest.mark.parametrize("name", ["../secret", "..", "reports/../../secret", "/etc/passwd"])
def test_the_reader_never_reads_outside_the_reports_folder(
    served: mc.Workspace, home: Path, name: str
) -> None:
    reader = MonitoringReader(served.db, LogLayout.under(home))
    with pytest.raises(ValidationError, match="is not valid"):
        reader.report(name)
    with pytest.raises(ValidationError, match="is not valid"):
        reader.alerts(name)


def test_the_server_reads_the_reports_where_the_layout_says(
    served: mc.Workspace, tmp_path: Path, home: Path
) -> None:
    """Issue 13: the server, the worker and 'modelcycle monitor' share one log layout."""
    settings = ServeSettings(models=("churn",))
    layout = LogLayout(tmp_path / "elsewhere" / "log", tmp_path / "labels", home / "reports")
    given = create_app(replace(served.services, layout=layout), settings, auth_required=False)
    default = create_app(served.services, settings, auth_required=False)
    assert given.state.monitoring.layout.reports == home / "reports"
    assert default.state.monitoring.layout.reports == served.services.layout.reports
    with TestClient(given) as test_client:
        assert test_client.get("/v1/models/watched/monitoring").json() == REPORT


def test_worker_processes_get_the_reports_folder(served: mc.Workspace, home: Path) -> None:
    settings = served.settings.model_copy(update={"log_root": home})
    config = WorkerConfig(workspace=settings, serve=ServeSettings(models=("churn",)))
    received = WorkerConfig.from_env(config.to_env()).workspace
    assert LogLayout.of(received).reports == home / "reports"


def test_openapi_documents_the_monitoring_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/models/{name}/alerts", "/v1/models/{name}/monitoring"):
        operation = paths[path]["get"]
        assert operation["tags"] == ["monitoring"] and operation["summary"]
        assert {"401", "403", "404", "422"} <= set(operation["responses"])
