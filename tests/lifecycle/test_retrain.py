"""The closed loop on real models: retrain, compare, promote; check, confirm or roll back."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import modelcycle as mc
from modelcycle.core import now_ms
from modelcycle.lifecycle import Policy, Worker
from modelcycle.records import DONE, QUEUED
from modelcycle.security import list_events, verify_audit
from tests.lifecycle.helpers import serve_and_label, source_file
from tests.models import Data, log_logistic


def _shuffled(data: Data) -> Data:
    """The same inputs with the training labels shuffled: a model that learned nothing."""
    return replace(
        data, y_train=data.y_train.sample(frac=1.0, random_state=0).set_axis(data.y_train.index)
    )


def _worker(ws: mc.Workspace) -> Worker:
    train = functools.partial(ws.train, n_jobs=1)  # one thread: the test machine is shared
    return ws.worker(owner="test-worker", train_fn=train)


def _policy(model: str, **sections: Any) -> Policy:
    return Policy.from_mapping({"model": model, **sections})


@pytest.mark.slow
def test_retrain_promotes_a_better_challenger_and_the_check_confirms_it(
    sqlite_workspace: mc.Workspace, tmp_path: Path, cancer: Data
) -> None:
    ws, home = sqlite_workspace, sqlite_workspace.settings.home
    weak = ws.registry.register(log_logistic(ws, _shuffled(cancer), 1.0), name="cancer")
    ws.registry.promote("cancer", weak.version)
    source = tmp_path / "cancer.csv"
    cancer.x_train.assign(target=cancer.y_train).to_csv(source, index=False)
    serve_and_label(ws, home, "cancer@champion", cancer.x_test, cancer.y_test)
    retraining = {"source": str(source), "target": "target", "budget": 6, "holdout_share": 0.5}
    rollback = {"min_labelled_rows": 50, "check_every": "1h"}
    ws.policies.set(_policy("cancer", retraining=retraining, rollback=rollback), actor="alice")
    job = ws.jobs.enqueue("retrain", "cancer", {"trigger": "manual"})
    assert job is not None

    worker = _worker(ws)
    finished = worker.run_job(job.job_id)

    assert finished.state == DONE, finished.error
    result = finished.result
    assert (result["outcome"], result["decision"], result["version"]) == ("promoted", "promote", 2)
    assert (result["holdout_rows"], result["feedback_rows"]) == (86, 85)
    assert result["training_rows"] == len(cancer.x_train) + 85
    comparison = result["comparison"]
    assert (comparison["metric"], comparison["n"]) == ("roc_auc", 86)
    # How many trials fit in the budget varies with load; the gain is large either way.
    assert comparison["metric_b"] > 0.95 and comparison["low"] > 0.1
    champion = ws.registry.resolve("cancer@champion")
    assert champion.version == 2 and set(champion.aliases) == {"champion", "challenger"}
    audit = list_events(ws.db, action="lifecycle.compare")
    assert [(e.actor, e.target) for e in audit] == [("worker", "cancer/2")]
    assert audit[0].after["comparison"] == comparison and audit[0].after["outcome"] == "promoted"
    promotions = [e for e in list_events(ws.db, action="alias.promote") if e.actor == "worker"]
    assert [e.target for e in promotions] == ["cancer@challenger", "cancer@champion"]

    check = ws.jobs.get(result["check_job"])
    assert (check.kind, check.payload["version"], check.payload["previous"]) == ("check", 2, 1)
    waited = worker.run_job(check.job_id)  # no labels for version 2 yet: wait, uncounted
    assert (waited.state, waited.attempts) == (QUEUED, 0)
    assert waited.run_after.timestamp() * 1000 > now_ms() + 3_000_000

    serve_and_label(ws, home, "cancer@champion", cancer.x_test, cancer.y_test)
    confirmed = worker.run_job(check.job_id)
    assert confirmed.state == DONE and confirmed.result["outcome"] == "confirmed"
    assert confirmed.result["comparison"]["n"] == len(cancer.x_test)
    assert ws.registry.resolve("cancer@champion").version == 2
    assert list_events(ws.db, action="lifecycle.check")[-1].after["outcome"] == "confirmed"
    assert verify_audit(ws.db).ok


@pytest.mark.slow
def test_propose_mode_keeps_a_champion_that_is_not_beaten(
    sqlite_workspace: mc.Workspace, tmp_path: Path, cancer: Data
) -> None:
    ws, home = sqlite_workspace, sqlite_workspace.settings.home
    strong = ws.registry.register(log_logistic(ws, cancer, 1.0), name="cancer")
    ws.registry.promote("cancer", strong.version)
    source = tmp_path / "cancer.csv"
    cancer.x_train.assign(target=cancer.y_train).to_csv(source, index=False)
    serve_and_label(ws, home, "cancer@champion", cancer.x_test, cancer.y_test)
    retraining = {
        "source": str(source),
        "target": "target",
        "budget_s": 6,  # the name before 0.2 is still read
        "mode": "propose",
        "include_feedback": False,
        "min_improvement": 0.02,
    }
    ws.policies.set(_policy("cancer", retraining=retraining))
    job = ws.jobs.enqueue("retrain", "cancer")
    assert job is not None

    result = _worker(ws).run_job(job.job_id).result

    assert (result["decision"], result["outcome"], result["feedback_rows"]) == ("keep", "kept", 0)
    assert result["holdout_rows"] == 52  # ceil(0.3 * 171)
    assert result["comparison"]["low"] <= 0.02
    assert ws.registry.resolve("cancer@champion").version == 1
    assert ws.registry.resolve("cancer@challenger").version == 2
    assert ws.jobs.list(kind="check") == []


def test_a_promotion_that_labels_prove_worse_is_rolled_back(
    workspace: mc.Workspace, cancer: Data
) -> None:
    ws, home = workspace, workspace.settings.home
    good = ws.registry.register(log_logistic(ws, cancer, 1.0), name="cancer")
    bad = ws.registry.register(log_logistic(ws, _shuffled(cancer), 1.0), name="cancer")
    ws.registry.promote("cancer", good.version)
    promoted_at = now_ms()
    ws.registry.promote("cancer", bad.version, force=True, actor="careless")
    ws.policies.set(_policy("cancer", rollback={"min_labelled_rows": 100}))
    payload = {"version": bad.version, "previous": good.version, "promoted_at": promoted_at}
    job = ws.jobs.enqueue("check", "cancer", payload)
    assert job is not None
    worker = _worker(ws)

    serve_and_label(ws, home, "cancer@champion", cancer.x_test[:40], cancer.y_test[:40])
    waited = worker.run_job(job.job_id)
    assert (waited.state, waited.attempts) == (QUEUED, 0)
    serve_and_label(ws, home, "cancer@champion", cancer.x_test[40:], cancer.y_test[40:])
    judged = worker.run_job(job.job_id)

    assert judged.state == DONE, judged.error
    assert judged.result["outcome"] == "rolled_back"
    comparison = judged.result["comparison"]
    assert comparison["n"] == len(cancer.x_test) and comparison["high"] < 0
    assert comparison["metric_a"] > 0.95 > comparison["metric_b"]
    assert ws.registry.resolve("cancer@champion").version == good.version
    last = ws.registry.alias_history("cancer", "champion")[-1]
    assert (last.action, last.actor, last.from_version, last.to_version) == (
        "rollback",
        "worker",
        bad.version,
        good.version,
    )
    event = list_events(ws.db, action="lifecycle.check")[-1]
    assert (event.target, event.after["outcome"]) == (f"cancer/{bad.version}", "rolled_back")
    assert verify_audit(ws.db).ok


def test_new_labels_schedule_a_retrain(workspace: mc.Workspace, cancer: Data) -> None:
    ws, home = workspace, workspace.settings.home
    version = ws.registry.register(log_logistic(ws, cancer, 1.0), name="cancer")
    ws.registry.promote("cancer", version.version)
    retraining = {"source": str(source_file(home)), "new_labels": 100}
    ws.policies.set(_policy("cancer", monitoring={"every": "1h"}, retraining=retraining))
    worker = ws.worker()
    serve_and_label(ws, home, "cancer@champion", cancer.x_test[:60], cancer.y_test[:60])
    assert [j.kind for j in worker.schedule(force=True)] == ["monitor"]
    serve_and_label(ws, home, "cancer@champion", cancer.x_test[60:], cancer.y_test[60:])
    retrain = [j for j in worker.schedule(force=True) if j.kind == "retrain"]
    assert [j.payload for j in retrain] == [{"labelled_rows": 171, "trigger": "new_labels"}]
    assert worker.schedule(force=True) == []  # one retrain queued at a time
