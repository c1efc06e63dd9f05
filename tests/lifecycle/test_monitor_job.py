"""The monitor job: rules from the policy, alerts to every sink, a retrain on chosen alerts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

import modelcycle as mc
from modelcycle.lifecycle import Policy
from modelcycle.monitoring import recent_alerts
from modelcycle.records import DONE
from tests.lifecycle.helpers import serve_and_label, source_file
from tests.models import Data, log_logistic


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP receiver on 127.0.0.1 that keeps every JSON body posted to it."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_an_alert_named_in_the_policy_enqueues_a_retrain(
    workspace: mc.Workspace, cancer: Data, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    ws, home = workspace, workspace.settings.home
    shuffled = cancer.y_train.sample(frac=1.0, random_state=0).set_axis(cancer.y_train.index)
    weak = ws.registry.register(log_logistic(ws, replace(cancer, y_train=shuffled), 1.0), "cancer")
    ws.registry.promote("cancer", weak.version)
    serve_and_label(ws, home, "cancer@champion", cancer.x_test, cancer.y_test)
    url, received = webhook
    policy = {
        "model": "cancer",
        "monitoring": {
            "every": "5m",
            "webhook": url,
            "alerts": [
                {"name": "auc drop", "rule": "realized.roc_auc < 0.8 min 100"},
                {"name": "slow", "rule": "latency.p95_ms > 1000"},
            ],
        },
        "retraining": {"source": str(source_file(home)), "on_alerts": ["auc drop"]},
    }
    ws.policies.set(Policy.from_mapping(policy))
    worker = ws.worker()
    scheduled = worker.schedule(force=True)
    assert [(j.kind, j.model) for j in scheduled] == [("monitor", "cancer")]

    finished = worker.run_job(scheduled[0].job_id)

    assert finished.state == DONE, finished.error
    result = finished.result
    assert (result["version"], result["rows"]) == (1, len(cancer.x_test))
    assert [a["rule"] for a in result["alerts"]] == ["auc drop"]
    assert result["metrics"]["labelled_rows"] == len(cancer.x_test)
    assert result["metrics"]["realized.roc_auc"] < 0.8
    retrain = ws.jobs.get(result["retrain_job"])
    assert (retrain.kind, retrain.state, retrain.payload["trigger"]) == (
        "retrain",
        "queued",
        "alerts",
    )
    assert [a["rule"] for a in retrain.payload["alerts"]] == ["auc drop"]
    assert [body["rule"] for body in received] == ["auc drop"]
    stored = recent_alerts(ws.db, "cancer")
    webhook_sink = "webhook " + url.removesuffix("/hook")
    assert [(a["rule"], a["delivered"]) for a in stored] == [
        ("auc drop", {"log": "delivered", webhook_sink: "delivered"})
    ]
    report = json.loads((home / "reports" / "cancer" / "monitor.json").read_text())
    assert report["model"] == "cancer" and report["alerts"][0]["rule"] == "auc drop"

    second = ws.jobs.enqueue("monitor", "cancer")
    assert second is not None
    again = worker.run_job(second.job_id)
    assert again.result["alerts"] and again.result["retrain_job"] is None  # one retrain at a time
    # Still firing, but delivered less than `repeat_after` (1h) ago: not sent again.
    assert again.result["delivered"] == [] and [body["rule"] for body in received] == ["auc drop"]
    assert len(recent_alerts(ws.db, "cancer")) == 1


def test_a_lasting_alert_is_delivered_again_after_repeat_after(
    workspace: mc.Workspace, cancer: Data, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    ws, home = workspace, workspace.settings.home
    version = ws.registry.register(log_logistic(ws, cancer, 1.0), "cancer")
    ws.registry.promote("cancer", version.version)
    serve_and_label(ws, home, "cancer@champion", cancer.x_test, cancer.y_test)
    url, received = webhook
    monitoring = {"every": "5m", "webhook": url, "repeat_after": "1s"}
    rule = {"name": "always", "rule": "rows > 0"}
    ws.policies.set(
        Policy.from_mapping({"model": "cancer", "monitoring": monitoring | {"alerts": [rule]}})
    )
    worker = ws.worker()
    first = worker.run_job(ws.jobs.enqueue("monitor", "cancer").job_id)  # type: ignore[union-attr]
    assert first.result["delivered"] == ["always"]
    time.sleep(1.1)
    second = worker.run_job(ws.jobs.enqueue("monitor", "cancer").job_id)  # type: ignore[union-attr]
    assert second.result["delivered"] == ["always"]
    assert [body["rule"] for body in received] == ["always", "always"]
