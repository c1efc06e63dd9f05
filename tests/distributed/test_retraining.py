"""The retraining worker sends its training to the Dask cluster (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelcycle as mc
from distributed import Client, get_task_stream
from modelcycle.lifecycle import Policy
from modelcycle.records import DONE, TrainingRecord
from tests.lifecycle.helpers import register_small_model
from tests.models import Data, run_cli


def test_a_retraining_job_trains_its_challenger_on_the_cluster(
    tmp_path: Path, cancer: Data, dask_cluster: str, dask_client: Client
) -> None:
    source = tmp_path / "cancer.csv"
    cancer.x_train.assign(target=cancer.y_train).to_csv(source, index=False)
    retraining = {"source": str(source), "target": "target", "budget": 8}
    with mc.Workspace(tmp_path / "ws", cluster=dask_cluster) as ws:
        register_small_model(ws, "cancer")
        ws.policies.set(
            Policy.from_mapping({"model": "cancer", "retraining": retraining}), actor="alice"
        )
        job = ws.jobs.enqueue("retrain", "cancer", {"trigger": "manual"})
        assert job is not None
        with get_task_stream(dask_client) as stream:
            finished = ws.worker(owner="cluster-worker").run_job(job.job_id)
        assert finished.state == DONE, finished.error
        version = ws.registry.resolve("cancer@challenger")
        assert version.version == finished.result["version"] == 2
        assert version.run_id is not None
        trials = ws.get_run(version.run_id).children
        record = TrainingRecord(ws.get_run(version.run_id))
    ran = [task for task in stream.data if str(task["key"]).startswith("_run_on_worker")]
    # Every trial of the challenger's search was a task on the cluster's workers.
    assert len(ran) == len(trials) > 0
    assert {task["worker"] for task in ran} <= set(dask_client.nthreads())
    assert record.target == "target"


def test_the_worker_command_runs_retraining_on_the_cluster(
    tmp_path: Path, cancer: Data, dask_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "cancer.csv"
    cancer.x_train.assign(target=cancer.y_train).to_csv(source, index=False)
    retraining = {"source": str(source), "target": "target", "budget": 6}
    with mc.Workspace(tmp_path / "ws") as ws:
        register_small_model(ws, "cancer")
        ws.policies.set(
            Policy.from_mapping({"model": "cancer", "retraining": retraining}), actor="alice"
        )
        job = ws.jobs.enqueue("retrain", "cancer", {"trigger": "manual"})
        assert job is not None
    code, out, err = run_cli(
        capsys, "-w", str(tmp_path / "ws"), "worker", "--cluster", dask_cluster, "--until-idle"
    )
    assert code == 0, err + out
    with mc.Workspace(tmp_path / "ws") as ws:
        done = ws.jobs.get(job.job_id)
        assert done.state == DONE, done.error
        assert ws.registry.resolve("cancer@challenger").version == 2
