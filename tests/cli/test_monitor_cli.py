"""``modelcycle monitor`` on a real model's prediction log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.lifecycle import Policy
from modelcycle.monitoring import recent_alerts
from tests.models import run_cli
from tests.monitoring.served import bootstrap, log_predictions, top_feature, train_cancer
from tests.monitoring.test_alerts import Receiver

PSI_RULE = "psi > 0.2 top 10 critical"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A workspace with ``cancer/1`` and a log whose most important feature has shifted."""
    folder = tmp_path_factory.mktemp("cli-monitor") / "ws"
    ws, data = train_cancer(folder)
    feature = top_feature(ws)
    rows = bootstrap(data.x_train, 800, seed=3)
    rows[feature] += 2.0 * data.x_train[feature].std()
    log_predictions(ws, folder, rows, errors=4)
    ws.close()
    return str(folder), feature


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_monitor_prints_the_summary_and_writes_the_report(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str], tmp_path: Path
) -> None:
    folder, feature = home
    code, out, err = run_cli(
        capsys, "-w", folder, "monitor", "cancer", "--rule", PSI_RULE, "--rule", "rows < 10"
    )
    assert code == 0, err
    assert "cancer version 1 · last 5000 rows · 800 rows · alerts" in out
    assert "1 alert(s)" in out and "critical" in out and feature in out
    assert "error rate" in out and "0.50% of 804 requests" in out
    assert "rows < 10" in out and "ok" in out  # the rule that did not fire, with its state
    assert "report: modelcycle-monitor/cancer/monitor.html" in out
    page = (tmp_path / "modelcycle-monitor" / "cancer" / "monitor.html").read_text()
    assert 'id="chart-drift"' in page
    saved = json.loads((tmp_path / "modelcycle-monitor" / "cancer" / "monitor.json").read_text())
    assert saved["alerts"][0]["features"][0] == feature
    # Recorded in the workspace too, where the server's /v1/models/cancer/monitoring reads it.
    recorded = Path(folder) / "reports" / "cancer" / "monitor.json"
    assert json.loads(recorded.read_text()) == saved


def test_monitor_json_goes_to_stdout(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str], tmp_path: Path
) -> None:
    folder, _ = home
    code, out, _ = run_cli(
        capsys,
        "-w",
        folder,
        "monitor",
        "cancer",
        "--hours",
        "3",
        "--json",
        "--no-record",
        "--rule",
        PSI_RULE,
        "-o",
        str(tmp_path / "here"),
    )
    report = json.loads(out)
    assert code == 0 and report["window"] == "last 3 h" and report["rows"] == 800
    assert report["alerts"][0]["message"].startswith("PSI ")
    assert report["metrics"]["requests"] == 804
    assert (tmp_path / "here" / "monitor.json").exists()


def test_fail_on_alert_sets_the_exit_code(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str]
) -> None:
    folder, _ = home
    fired = run_cli(
        capsys, "-w", folder, "monitor", "cancer", "--rule", PSI_RULE, "--fail-on-alert"
    )
    assert fired[0] == 8
    quiet = run_cli(
        capsys, "-w", folder, "monitor", "cancer", "--rule", "rows < 10", "--fail-on-alert"
    )
    assert quiet[0] == 0


def test_a_webhook_receives_the_alerts_and_they_are_recorded(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str], receiver: Receiver
) -> None:
    folder, _ = home
    rule = "error_rate > 0.001 min 100"
    code, _, err = run_cli(
        capsys, "-w", folder, "monitor", "cancer", "--rule", rule, "--webhook", receiver.url
    )
    assert code == 0, err
    (body,) = receiver.bodies
    assert body["rule"] == rule and body["model"] == "cancer" and body["value"] == 4 / 804
    with mc.Workspace(folder) as ws:
        stored = recent_alerts(ws.db, model="cancer", limit=1)[0]
    assert stored["rule"] == rule
    assert list(stored["delivered"].values()) == ["delivered"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "psi >> 0.2"], "alert rule 'psi >> 0.2': operator '>>' is not valid"),
        (["--rule", "psi > 0.2 top"], "'top' must be followed by a whole number; got nothing"),
        (["--rule", "auc < 0.8"], "field 'metric' is 'auc'"),
        (["--webhook", "file:///etc/passwd"], "webhook URL 'file:///etc/passwd' is not accepted"),
        (["--ref", "other/1"], "model 'other' is not registered"),
    ],
)
def test_bad_options_give_one_clear_line(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str], args: list[str], message: str
) -> None:
    folder, _ = home
    code, _, err = run_cli(capsys, "-w", folder, "monitor", "cancer", *args)
    assert code in (2, 3) and message in err and "Traceback" not in err


def test_an_unknown_model_is_not_found(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str]
) -> None:
    folder, _ = home
    code, _, err = run_cli(capsys, "-w", folder, "monitor", "nope")
    assert code == 3 and "nope" in err


def test_without_rules_the_stored_policy_s_rules_apply(
    capsys: pytest.CaptureFixture[str], home: tuple[str, str]
) -> None:
    folder, feature = home
    policy = {"model": "cancer", "monitoring": {"alerts": [{"name": "drift", "rule": PSI_RULE}]}}
    with mc.Workspace(folder) as ws:
        ws.policies.set(Policy.from_mapping(policy))
    try:
        code, out, _ = run_cli(capsys, "-w", folder, "monitor", "cancer", "--json", "--no-record")
    finally:
        with mc.Workspace(folder) as ws:
            ws.policies.delete("cancer")
    report = json.loads(out)
    assert code == 0 and [alert["rule"] for alert in report["alerts"]] == ["drift"]
    assert report["alerts"][0]["features"][0] == feature
