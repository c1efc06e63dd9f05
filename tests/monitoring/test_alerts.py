"""Alert rules, their evaluation on drift and performance, and delivery to real sinks."""

from __future__ import annotations

import doctest
import importlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.data import Profile, infer_schema
from modelcycle.monitoring import (
    Alert,
    AlertRule,
    DatabaseSink,
    LogSink,
    WebhookSink,
    drift_report,
    parse_rules,
    recent_alerts,
)
from modelcycle.monitoring._alerts import check_rules, evaluate
from modelcycle.monitoring._sinks import deliver


@pytest.mark.parametrize("module", ["_rules", "_alerts", "_sinks"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"modelcycle.monitoring.{module}"))
    assert result.failed == 0 and result.attempted > 0


# --- rules ---------------------------------------------------------------------------


def test_the_compact_form_reads_every_option() -> None:
    rule = AlertRule.parse("psi>=0.25 top 3 min 500 critical")
    assert (rule.metric, rule.op, rule.threshold) == ("psi", ">=", 0.25)
    assert (rule.top_features, rule.min_rows, rule.severity) == (3, 500, "critical")
    assert rule.name == "psi >= 0.25 top 3 min 500 critical"
    assert rule.text == "psi >= 0.25 top 3 min 500 critical"
    assert AlertRule.parse(rule.text) == AlertRule.parse(rule.text)
    assert AlertRule.parse("latency.p99_ms<=250").op == "<="
    assert AlertRule.parse("realized.roc_auc < 0.8").severity == "warning"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("psi = 0.2", "field 'op' is '='; expected one of ['>', '>=', '<', '<=']"),
        ("psu > 0.2", "field 'metric' is 'psu'; expected one of ['psi'"),
        ("realized.auc < 0.8", "field 'metric' is 'realized.auc'"),
        ("psi > high", "threshold 'high' is not a number"),
        ("psi > 0.2 top x", "'top' must be followed by a whole number; got 'x'"),
        ("psi > 0.2 top 0", "field 'top_features' is 0; expected an integer >= 1"),
        ("psi > 0.2 min -5", "'min' must be followed by a whole number; got '-5'"),
        ("error_rate > 0.1 top 5", "metric 'error_rate' is not per feature"),
        ("psi > 0.2 urgent", "unexpected 'urgent'"),
        ("psi >", "is incomplete"),
        ("psi > nan", "field 'threshold' is nan; expected a finite number"),
    ],
)
def test_bad_rule_text_says_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(ValidationError, match="alert rule") as caught:
        AlertRule.parse(text)
    assert expected in str(caught.value)


def test_a_mapping_rule_names_its_position_field_and_value() -> None:
    good = {"name": "auc", "metric": "realized.roc_auc", "op": "<", "threshold": 0.8}
    with pytest.raises(ValidationError) as caught:
        parse_rules([good, {"name": "drift", "metric": "psi", "op": ">", "threshold": "high"}])
    assert str(caught.value) == (
        "alert rule #1 ('drift'): field 'threshold' is 'high'; expected a finite number"
    )
    with pytest.raises(ValidationError, match=r"#0: unknown field\(s\) \['treshold'\]"):
        parse_rules([{"metric": "psi", "op": ">", "treshold": 0.2}])
    with pytest.raises(ValidationError, match=r"#0: missing field\(s\) \['threshold'\]"):
        parse_rules([{"metric": "psi", "op": ">"}])
    with pytest.raises(ValidationError, match="field 'severity' is 'loud'"):
        AlertRule.from_mapping({"metric": "psi", "op": ">", "threshold": 1, "severity": "loud"})
    with pytest.raises(ValidationError, match="#1: alert rule 'psi >' is incomplete"):
        parse_rules(["rows < 10", "psi >"])
    with pytest.raises(ValidationError, match=r"names \['psi > 0.2'\] are repeated"):
        parse_rules(["psi > 0.2", {"rule": "psi > 0.2"}])


def test_mapping_rules_round_trip_and_accept_the_compact_form() -> None:
    rule = AlertRule.from_mapping({"rule": "drift.share > 0.3 top 5", "severity": "critical"})
    assert rule.name == "drift.share > 0.3 top 5 critical"
    assert (rule.top_features, rule.severity) == (5, "critical")
    assert AlertRule.from_mapping(json.loads(json.dumps(rule.to_dict()))) == rule
    named = AlertRule.from_mapping({"name": "x", "metric": "rows", "op": "<", "threshold": 10})
    assert named.name == "x" and named.threshold == 10.0


# --- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    model: str = "churn"
    version: int | None = 3
    metrics: dict[str, float] = field(default_factory=dict)
    drift: Any = None
    importance: dict[str, float] = field(default_factory=dict)


def _frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(50.0 + shift, 10.0, rows),
            "age": rng.normal(40.0, 8.0, rows),
            "tenure": rng.normal(5.0, 2.0, rows),
            "plan": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def shifted_subject() -> Subject:
    train = _frame(np.random.default_rng(0), 10_000)
    profile = Profile.from_frame(train, infer_schema(train))
    window = _frame(np.random.default_rng(1), 2_000, shift=10.0)
    window["tenure"] += 1.0  # 0.5 sd: drifted too, smaller PSI
    report = drift_report(profile, window)
    importance = {"age": 0.3, "plan": 0.2, "income": 0.1, "tenure": 0.05}
    return Subject(metrics={"rows": 2000.0}, drift=report, importance=importance)


def test_a_psi_alert_names_the_shifted_features_worst_first(shifted_subject: Subject) -> None:
    (alert,) = evaluate([AlertRule.parse("psi > 0.2 critical")], shifted_subject)
    income = shifted_subject.drift["income"]["psi"].statistic
    tenure = shifted_subject.drift["tenure"]["psi"].statistic
    assert income > tenure > 0.2 > shifted_subject.drift["age"]["psi"].statistic
    assert alert.features == ("income", "tenure")
    assert alert.value == pytest.approx(income)
    assert alert.message == (
        f"PSI {income:.4g} > 0.2 on features 'income' ({income:.3g}), 'tenure' ({tenure:.3g})"
    )
    assert (alert.model, alert.version, alert.severity) == ("churn", 3, "critical")


def test_top_features_restricts_the_features_that_count(shifted_subject: Subject) -> None:
    top_two = AlertRule.parse("psi > 0.2 top 2")  # age and plan: plan has no PSI
    top_three = AlertRule.parse("psi > 0.2 top 3")  # adds income
    checks = check_rules([top_two, top_three], shifted_subject)
    assert [c.state for c in checks] == ["ok", "fired"]
    assert checks[0].value == pytest.approx(shifted_subject.drift["age"]["psi"].statistic)
    alert = checks[1].alert
    assert alert is not None and alert.features == ("income",)
    assert alert.message.endswith("on feature 'income' (top-3 feature)")


def test_drift_share_and_verdict_name_the_drifted_features(shifted_subject: Subject) -> None:
    rules = parse_rules(["drift.share >= 0.5", "drift.detected > 0 top 2", "drift.detected > 0"])
    checks = check_rules(rules, shifted_subject)
    assert [c.state for c in checks] == ["fired", "ok", "fired"]
    share = checks[0].alert
    assert share is not None and share.value == 0.5
    assert share.message == "drift.share 0.5 >= 0.5: drifted features 'income', 'tenure'"
    assert checks[1].value == 0.0


def test_min_rows_holds_a_rule_back_until_enough_labels() -> None:
    subject = Subject(metrics={"realized.roc_auc": 0.71, "labelled_rows": 50.0, "rows": 900.0})
    waiting, ready = check_rules(
        parse_rules(["realized.roc_auc < 0.8 min 100", "realized.roc_auc < 0.8 min 50"]), subject
    )
    assert (waiting.state, waiting.rows, waiting.alert) == ("insufficient data", 50, None)
    assert waiting.detail == "50 labelled rows < min_rows 100"
    assert ready.alert is not None
    assert ready.alert.message == "realized.roc_auc 0.71 < 0.8 (on 50 labelled rows)"


def test_a_missing_metric_is_unavailable_not_fired() -> None:
    subject = Subject(metrics={"rows": 10.0, "estimated.roc_auc": float("nan")})
    checks = check_rules(parse_rules(["estimated.roc_auc < 0.9", "psi > 0.1 top 3"]), subject)
    assert [c.state for c in checks] == ["unavailable", "unavailable"]
    assert evaluate(parse_rules(["rows < 100"]), subject)[0].message == "rows 10 < 100 (on 10 rows)"


def test_an_alert_is_json_ready() -> None:
    subject = Subject(metrics={"latency.p99_ms": 812.5, "requests": 1200.0})
    (alert,) = evaluate([AlertRule.parse("latency.p99_ms > 500")], subject)
    data = json.loads(json.dumps(alert.to_dict(), allow_nan=False))
    assert data["text"] == (
        "[warning] model 'churn' version 3: latency.p99_ms 812.5 > 500 (on 1200 requests)"
    )
    assert data["value"] == 812.5 and data["features"] == []


# --- delivery --------------------------------------------------------------------------


def _alert(model: str = "churn", rule: str = "psi > 0.2", **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "model": model,
        "version": 2,
        "rule": rule,
        "severity": "critical",
        "metric": "psi",
        "op": ">",
        "value": 0.41,
        "threshold": 0.2,
        "message": "PSI 0.41 > 0.2 on feature 'income'",
        "features": ("income",),
    }
    return Alert(**(fields | changes))


class Receiver:
    """A real HTTP server on 127.0.0.1 that records the JSON bodies it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_a_webhook_receives_the_alert_json(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url)
    summary = deliver([_alert()], [sink])
    assert summary["delivered"] == 1 and summary["failed"] == 0
    (body,) = receiver.bodies
    assert body == _alert().to_dict() | {"time": body["time"]}
    assert body["features"] == ["income"] and body["severity"] == "critical"
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert sink.name == f"webhook http://127.0.0.1:{receiver.server.server_address[1]}"
    assert "secret-token" not in json.dumps(summary)


def test_a_failing_receiver_is_retried_then_recorded_as_failed(receiver: Receiver) -> None:
    receiver.status = 500
    summary = deliver([_alert()], [WebhookSink(receiver.url, retries=2, backoff_s=0)])
    assert len(receiver.bodies) == 3
    assert summary["failed"] == 1 and summary["delivered"] == 0
    (failure,) = summary["failures"]
    assert failure["error"] == "failed: HTTP 500 Internal Server Error (after 3 attempt(s))"
    receiver.status = 404
    receiver.bodies.clear()
    deliver([_alert()], [WebhookSink(receiver.url, retries=2, backoff_s=0)])
    assert len(receiver.bodies) == 1  # a client error is not retried


def test_a_closed_port_fails_the_delivery_without_raising(caplog: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/", retries=1, backoff_s=0, timeout_s=2)
    with caplog.at_level(logging.WARNING, logger="modelcycle.alerts"):
        summary = deliver([_alert()], [sink, LogSink()])
    assert summary["sinks"] == {
        sink.name: {"delivered": 0, "failed": 1},
        "log": {"delivered": 1, "failed": 0},
    }
    assert "after 2 attempt(s)" in summary["failures"][0]["error"]
    assert "delivery to webhook" in caplog.text


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "x"])
def test_only_http_webhooks_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        WebhookSink(url)


def test_the_log_sink_logs_at_the_severity_level(caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="modelcycle.alerts"):
        deliver([_alert(), _alert(severity="info", rule="rows < 5")], [LogSink()])
    levels = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "modelcycle.alerts"]
    assert levels[0] == (
        logging.ERROR,
        "[critical] model 'churn' version 2: PSI 0.41 > 0.2 on feature 'income'",
    )
    assert levels[1][0] == logging.INFO


def test_stored_alerts_record_their_deliveries(workspace: mc.Workspace, receiver: Receiver) -> None:
    receiver.status = 503
    old = _alert(model="churn", rule="rows < 5", time=datetime.now(UTC) - timedelta(days=2))
    hook = WebhookSink(receiver.url, retries=0)
    summary = deliver(
        [old, _alert(), _alert(model="fraud")], [DatabaseSink(workspace.db), hook, LogSink()]
    )
    assert summary["sinks"]["database"] == {"delivered": 3, "failed": 0}
    stored = recent_alerts(workspace.db, model="churn")
    assert [a["rule"] for a in stored] == ["psi > 0.2", "rows < 5"]
    newest = stored[0]
    assert newest["delivered"] == {
        hook.name: "failed: HTTP 503 Service Unavailable (after 1 attempt(s))",
        "log": "delivered",
    }
    assert (newest["value"], newest["threshold"], newest["severity"]) == (0.41, 0.2, "critical")
    assert newest["message"] == "PSI 0.41 > 0.2 on feature 'income'"
    recent = recent_alerts(workspace.db, since=datetime.now(UTC) - timedelta(hours=1))
    assert sorted(a["model"] for a in recent) == ["churn", "fraud"]
    assert len(recent_alerts(workspace.db, limit=1)) == 1
    with pytest.raises(ValidationError, match="limit is 0"):
        recent_alerts(workspace.db, limit=0)


def test_a_broken_database_sink_does_not_stop_the_others(tmp_path: Any) -> None:
    ws = mc.Workspace(tmp_path / "ws")
    ws.close()
    ws.db.engine.dispose()
    (tmp_path / "ws" / "modelcycle.db").unlink()
    (tmp_path / "ws" / "modelcycle.db").mkdir()  # the file is now a folder: inserts fail
    summary = deliver([_alert()], [DatabaseSink(ws.db), LogSink()])
    assert summary["sinks"]["log"] == {"delivered": 1, "failed": 0}
    assert summary["sinks"]["database"] == {"delivered": 0, "failed": 1}


def test_evaluate_accepts_any_report_shaped_object() -> None:
    report = SimpleNamespace(
        model="m", version=None, metrics={"error_rate": 0.5}, drift=None, importance={}
    )
    assert evaluate([AlertRule.parse("error_rate > 0.1")], report)[0].text.startswith(
        "[warning] model 'm': error_rate 0.5"
    )
