"""monitor(): one pass over a real model's prediction log — drift, performance, health, alerts."""

from __future__ import annotations

import doctest
import importlib
import json
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import modelcycle as mc
from modelcycle.core import NotFound, Task, ValidationError
from modelcycle.data import Profile, infer_schema
from modelcycle.monitoring import (
    MonitorReport,
    MonitorWindow,
    drift_report,
    monitor,
    parse_rules,
    recent_alerts,
    run_monitoring,
)
from modelcycle.monitoring._monitor import prediction_values
from modelcycle.monitoring._reference import VersionReference
from modelcycle.packaging import Signature
from tests.models import Data, log_logistic, logs_at
from tests.monitoring.served import (
    bootstrap,
    log_labels,
    log_predictions,
    top_feature,
    train_cancer,
)

PSI_RULE = "psi > 0.2 top 10 critical"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[mc.Workspace, Data]]:
    ws, data = train_cancer(tmp_path_factory.mktemp("monitor") / "ws")
    yield ws, data
    ws.close()


@pytest.fixture(scope="module")
def shifted(
    served: tuple[mc.Workspace, Data], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """A log of 1500 rows whose most important feature moved by two standard deviations."""
    ws, data = served
    home = tmp_path_factory.mktemp("shifted")
    feature = top_feature(ws)
    rows = bootstrap(data.x_train, 1500, seed=1)
    rows[feature] += 2.0 * data.x_train[feature].std()
    log_predictions(ws, home, rows)
    return home, feature


@pytest.fixture(scope="module")
def steady(
    served: tuple[mc.Workspace, Data], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """1500 rows like the training data, then the test rows (labelled later) and 10 errors."""
    ws, data = served
    home = tmp_path_factory.mktemp("steady")
    start = datetime.now(UTC) - timedelta(hours=2)
    log_predictions(ws, home, bootstrap(data.x_train, 1500, seed=2), start=start)
    ids = log_predictions(ws, home, data.x_test.reset_index(drop=True), errors=10)
    return home, ids


def test_docstring_examples_run() -> None:
    module = importlib.import_module("modelcycle.monitoring._monitor_report")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_a_shifted_window_fires_the_psi_alert_naming_the_feature(
    served: tuple[mc.Workspace, Data], shifted: tuple[Path, str]
) -> None:
    ws, _ = served
    home, feature = shifted
    report = monitor(logs_at(ws, home), "cancer", rules=parse_rules([PSI_RULE]))
    assert (report.model, report.version, report.ref, report.rows) == (
        "cancer",
        1,
        "cancer/1",
        1500,
    )
    assert report.drift is not None and report.drift[feature].drifted
    (alert,) = report.alerts
    psi = report.drift[feature]["psi"].statistic
    assert alert.features[0] == feature and alert.value == pytest.approx(psi)
    assert alert.severity == "critical" and alert.model == "cancer" and alert.version == 1
    assert alert.features == (feature,)
    assert alert.message == f"PSI {psi:.4g} > 0.2 on feature '{feature}' (top-10 feature)"
    assert report.metrics["psi"] == pytest.approx(psi)
    assert report.status == "alerts"


def test_a_window_larger_than_sample_rows_is_sampled_for_drift(
    served: tuple[mc.Workspace, Data], shifted: tuple[Path, str]
) -> None:
    ws, _ = served
    home, feature = shifted
    window = MonitorWindow(sample_rows=600)
    report = monitor(logs_at(ws, home), "cancer", window=window, rules=parse_rules([PSI_RULE]))
    again = monitor(logs_at(ws, home), "cancer", window=window)
    assert report.rows == 600 and report.drift is not None and report.drift.rows == 600
    assert report.drift[feature].drifted and [a.rule for a in report.alerts] == [PSI_RULE]
    assert "a seeded sample of 600 of the window's 1,500 rows" in " ".join(report.notes)
    assert again.drift is not None
    assert again.drift[feature]["psi"].statistic == report.drift[feature]["psi"].statistic
    whole = monitor(logs_at(ws, home), "cancer", window=MonitorWindow(sample_rows=None))
    assert whole.rows == 1500 and not any("sample" in note for note in whole.notes)


def test_a_steady_window_does_not_fire(
    served: tuple[mc.Workspace, Data], steady: tuple[Path, list[str]]
) -> None:
    ws, _ = served
    home, _ = steady
    window = MonitorWindow(last_rows=1500)
    report = monitor(logs_at(ws, home), "cancer", window=window, rules=parse_rules([PSI_RULE]))
    assert report.alerts == [] and report.checks[0].state == "ok"
    assert report.checks[0].value is not None and report.checks[0].value < 0.2
    assert report.rows == 1500 and report.window == "last 1500 rows"
    assert report.metrics["rows"] == 1500.0
    assert 0.9 < report.metrics["estimated.roc_auc"] <= 1.0
    assert report.estimated is not None and set(report.estimated["version"]) == {1}
    assert report.estimated["rows"].sum() == 1500


def test_realized_performance_waits_for_min_rows(
    served: tuple[mc.Workspace, Data], steady: tuple[Path, list[str]]
) -> None:
    ws, data = served
    home, ids = steady
    truth = data.y_test.to_numpy()
    log_labels(home, ids, list(1 - truth))  # every label flipped: the model looks awful
    rules = parse_rules(
        ["realized.roc_auc < 0.8 min 100", "realized.roc_auc < 0.8 min 500", "labelled_rows < 1"]
    )
    report = monitor(logs_at(ws, home), "cancer", rules=rules)
    proba = ws.registry.load("cancer/1").predict_proba(data.x_test)[:, 1]
    expected = roc_auc_score(1 - truth, proba)
    assert report.metrics["labelled_rows"] == len(truth)
    assert report.metrics["realized.roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert report.realized_summary[1]["rows"] == len(truth)
    assert [c.state for c in report.checks] == ["fired", "insufficient data", "ok"]
    assert report.checks[1].detail == f"{len(truth)} labelled rows < min_rows 500"
    assert report.alerts[0].message == (
        f"realized.roc_auc {expected:.4g} < 0.8 (on {len(truth)} labelled rows)"
    )
    assert report.realized["rows"].sum() == len(truth)


def test_service_health_and_error_rate(
    served: tuple[mc.Workspace, Data], steady: tuple[Path, list[str]]
) -> None:
    ws, data = served
    home, _ = steady
    report = monitor(logs_at(ws, home), "cancer", window=MonitorWindow(last_rows=None, hours=3))
    health = report.health_of()
    assert health is not None
    requests = 1500 + len(data.x_test) + 10
    assert (health.requests, health.errors) == (requests, 10)
    assert report.metrics["error_rate"] == pytest.approx(10 / requests)
    assert report.metrics["latency.p50_ms"] == pytest.approx(5.0)
    assert report.window == "last 3 h"
    assert int(report.latency["requests"].sum()) == requests
    assert int(report.latency["errors"].sum()) == 10


def test_alerts_go_to_the_sinks(
    served: tuple[mc.Workspace, Data], shifted: tuple[Path, str]
) -> None:
    ws, _ = served
    home, feature = shifted
    services = logs_at(ws, home)
    done = run_monitoring(services, "cancer", rules=parse_rules([PSI_RULE]))
    report = done.report
    assert report.delivery is not None and report.delivery["delivered"] == 1
    stored = recent_alerts(ws.db, model="cancer", limit=1)[0]
    assert stored["rule"] == PSI_RULE and stored["version"] == 1
    assert feature in stored["message"] and stored["severity"] == "critical"
    # The report is the model's latest in the workspace, and links one plotly.js beside it.
    folder = services.layout.reports_of("cancer")
    assert done.saved["html"] == folder / "monitor.html"
    assert (folder / "plotly.min.js").stat().st_size > 3_000_000
    # The same alert again within repeat_after is listed but not delivered twice.
    again = run_monitoring(services, "cancer", rules=parse_rules([PSI_RULE]), repeat_after_s=3600)
    assert [a.rule for a in again.withheld] == [PSI_RULE] and not again.delivered
    assert len(recent_alerts(ws.db, model="cancer", limit=10)) == 1
    assert again.report.alerts and again.report.delivery is None


def test_an_empty_log_gives_a_report_not_an_error(
    served: tuple[mc.Workspace, Data], tmp_path: Path
) -> None:
    ws, _ = served
    report = monitor(logs_at(ws, tmp_path / "nothing"), "cancer", rules=parse_rules([PSI_RULE]))
    assert report.rows == 0 and report.drift is None and report.health == []
    assert report.notes[0] == "no predictions logged yet for model 'cancer' in the window"
    assert report.status == "no data"
    assert report.checks[0].state == "unavailable"
    assert json.loads(report.to_json())["status"] == "no data"
    assert "no predictions logged yet" in report.to_html()


def test_too_few_rows_skip_drift_with_a_reason(
    served: tuple[mc.Workspace, Data], tmp_path: Path
) -> None:
    ws, data = served
    log_predictions(ws, tmp_path, data.x_test.head(12))
    report = monitor(logs_at(ws, tmp_path), "cancer")
    assert report.rows == 12 and report.drift is None
    assert (
        "drift skipped: 12 rows of version 1 in the window; at least 30 are needed" in report.notes
    )


def test_the_report_saves_html_with_charts_and_json_that_round_trips(
    served: tuple[mc.Workspace, Data], steady: tuple[Path, list[str]], tmp_path: Path
) -> None:
    ws, _ = served
    home, _ = steady
    report = monitor(logs_at(ws, home), "cancer", rules=parse_rules([PSI_RULE, "rows < 10"]))
    paths = report.save(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["monitor.html", "monitor.json"]
    # Private (issue 11): the report shows model inputs' statistics.
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths.values()} == {0o600}
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    data = json.loads(paths["json"].read_text())
    assert data == report.to_dict() == json.loads(json.dumps(data, allow_nan=False))
    assert data["drift"]["rows"] == report.rows and data["health"][0]["version"] == 1
    assert data["checks"][1]["state"] == "ok" and data["metrics"]["rows"] == report.rows
    page = paths["html"].read_text()
    for chart in ("chart-drift", "chart-performance", "chart-latency", "chart-errors"):
        assert f'id="{chart}"' in page
    assert page.count("Plotly.newPlot") == 4
    # Saved pages link the one plotly.js written beside them (issue 12: 4.9 MB per page).
    assert '<script src="plotly.min.js">' in page and len(page) < 500_000
    assert (tmp_path / "out" / "plotly.min.js").stat().st_size > 3_000_000
    assert stat.S_IMODE((tmp_path / "out" / "plotly.min.js").stat().st_mode) == 0o600
    alone = report.to_html()  # a page on its own inlines it and opens offline
    assert "https://" not in alone.split("<body>")[0].split("<script")[1][:200]
    assert len(alone) > 3_000_000


def test_html_escapes_hostile_names() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    rng = np.random.default_rng(0)
    train = pd.DataFrame({hostile: rng.normal(size=2000), "ok": rng.normal(size=2000)})
    window = pd.DataFrame({hostile: rng.normal(2.0, size=500), "ok": rng.normal(size=500)})
    drift = drift_report(Profile.from_frame(train, infer_schema(train)), window)
    report = MonitorReport(
        model="<script>alert('model')</script>",
        version=1,
        ref=None,
        task="binary",
        metric="roc_auc",
        window="last 500 rows",
        rows=500,
        drift=drift,
        realized=pd.DataFrame(columns=["version", "start", "end", "rows", "metric", "value"]),
        realized_summary={},
        estimated=None,
        health=[],
        latency=pd.DataFrame(columns=["time", "version", "requests", "p50", "p99", "errors"]),
        importance={hostile: 0.3},
        metrics={"rows": 500.0},
        notes=[f"note about {hostile}"],
    )
    page = report.to_html(plotly_js_src="plotly.min.js")
    assert "<script>alert(" not in page and hostile not in page
    assert "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'id="chart-drift"' in page and '<script src="plotly.min.js"></script>' in page


def test_the_reference_defaults_to_the_champion_then_the_latest(
    served: tuple[mc.Workspace, Data], tmp_path: Path
) -> None:
    ws, _ = served
    assert monitor(logs_at(ws, tmp_path), "cancer").ref == "cancer/1"  # no champion yet
    with pytest.raises(ValidationError, match="names model 'cancer', not 'other'"):
        monitor(logs_at(ws, tmp_path), "other", ref="cancer/1")
    with pytest.raises(NotFound):
        monitor(logs_at(ws, tmp_path), "missing")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"last_rows": 0}, "last_rows is 0"),
        ({"hours": -1}, "hours is -1"),
        ({"hours": 1, "since": datetime(2025, 1, 1, tzinfo=UTC)}, "since or hours, not both"),
        (
            {"since": datetime(2025, 1, 2, tzinfo=UTC), "until": datetime(2025, 1, 1, tzinfo=UTC)},
            "is not before until",
        ),
    ],
)
def test_bad_windows_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        MonitorWindow(**options)  # type: ignore[arg-type]


def test_a_model_logged_by_a_user_is_monitored_without_its_missing_parts(
    served: tuple[mc.Workspace, Data], tmp_path: Path
) -> None:
    ws, data = served
    ws.registry.register(log_logistic(ws, data, 1.0), name="logged")
    log_predictions(ws, tmp_path, bootstrap(data.x_test, 200, seed=4), model="logged")
    report = monitor(logs_at(ws, tmp_path), "logged", rules=parse_rules(["psi > 0.2"]))
    assert (report.ref, report.rows, report.drift, report.estimated) == (
        "logged/1",
        200,
        None,
        None,
    )
    assert report.notes == [
        "drift skipped: version 1 has no training profile (models logged without profile.json)",
        "realized performance: no labelled predictions in the window yet",
        "estimated performance skipped: version 1 has no holdout predictions to calibrate CBPE on",
    ]
    assert report.checks[0].state == "unavailable"
    assert report.metrics["requests"] == 200.0 and "psi" not in report.metrics


def _reference(task: Task, holdout: pd.DataFrame, classes: tuple[object, ...] | None) -> Any:
    return VersionReference(
        name="m",
        version=1,
        task=task,
        classes=classes,
        signature=Signature(inputs=(), task=task, classes=classes),
        profile=None,
        holdout=holdout,
        metric="accuracy",
        importance={},
    )


def test_predictions_are_compared_in_a_form_fit_for_each_task() -> None:
    window = pd.DataFrame(
        {
            "prediction": [3.5, 1.0, "b"],
            "probabilities": [[0.2, 0.3, 0.5], [0.7, 0.2, 0.1], None],
        }
    )
    holdout = pd.DataFrame({"y": [0, 2], "proba_0": [0.1, 0.6], "proba_1": [0.1, 0.3]})
    holdout["proba_2"] = 1 - holdout["proba_0"] - holdout["proba_1"]
    multiclass = prediction_values(window, _reference(Task.MULTICLASS, holdout, ("a", "b", "c")))
    assert multiclass is not None
    assert multiclass[0].tolist() == ["c", "a", None] and multiclass[1].tolist() == ["c", "a"]
    regression = pd.DataFrame({"y": [1.0], "prediction": [2.5]})
    served_values, expected = prediction_values(
        window.assign(prediction=[3.5, 1.0, None]), _reference(Task.REGRESSION, regression, None)
    ) or (None, None)
    assert served_values is not None and served_values.tolist()[:2] == [3.5, 1.0]
    assert expected is not None and expected.tolist() == [2.5]
    binary = pd.DataFrame({"y": [0, 1], "proba_0": [0.9, 0.2], "proba_1": [0.1, 0.8]})
    two = window.assign(probabilities=[[0.4, 0.6], [0.9, 0.1], None])
    served_binary, expected_binary = prediction_values(
        two, _reference(Task.BINARY, binary, (0, 1))
    ) or (None, None)
    assert served_binary is not None and served_binary.tolist()[:2] == [0.6, 0.1]
    assert np.isnan(served_binary.tolist()[2])
    assert expected_binary is not None and expected_binary.tolist() == [0.1, 0.8]
    assert prediction_values(two, _reference(Task.BINARY, binary.iloc[:0], (0, 1))) is None
