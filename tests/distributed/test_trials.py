"""Trials of a training search on a real Dask cluster (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import modelcycle as mc
from distributed import Client, get_task_stream
from modelcycle.core import ValidationError, WorkspaceError
from modelcycle.distributed import DaskExecutor, connect
from modelcycle.distributed._trials import OPTUNA_SCHEMA
from tests.models import Data, run_cli

SRC = str(Path(mc.__file__).parents[1])


def _frame(cancer: Data) -> pd.DataFrame:
    return cancer.x_train.assign(target=cancer.y_train.to_numpy())


def _trial_tasks(stream: list[dict[str, object]]) -> list[dict[str, object]]:
    return [t for t in stream if str(t["key"]).startswith("_run_on_worker")]


def test_a_search_runs_its_trials_on_every_worker_and_records_them_as_child_runs(
    tmp_path: Path, cancer: Data, dask_cluster: str, dask_client: Client
) -> None:
    ws = mc.Workspace(tmp_path / "ws", cluster=dask_cluster)
    try:
        with get_task_stream(dask_client) as stream:
            result = ws.train(_frame(cancer), target="target", name="cancer", budget=15)
        automl = result.automl
        tasks = _trial_tasks(stream.data)
        assert len(tasks) == len(automl.results_) >= 2
        assert len({t["worker"] for t in tasks}) == 2  # both workers ran trials
        assert {r.source for r in automl.results_} >= {"portfolio"}
        children = ws.get_run(result.run_id).children
        assert len(children) == len(automl.results_)
        assert {c.params["learner"] for c in children} == {r.learner for r in automl.results_}
        assert result.version is not None and result.report.metrics["roc_auc"] > 0.9
        predicted = result.pipeline.predict(cancer.x_test)
        assert len(predicted) == len(cancer.x_test)
    finally:
        ws.close()


@pytest.mark.postgres
def test_on_postgresql_the_studies_live_in_their_own_schema_of_the_workspace_database(
    tmp_path: Path, cancer: Data, dask_cluster: str, postgres_url: str
) -> None:
    ws = mc.Workspace(postgres_url, artifact_root=str(tmp_path / "artifacts"), cluster=dask_cluster)
    try:
        result = ws.train(_frame(cancer), target="target", budget=12, learners=["linear"])
        tuned = [r for r in result.automl.results_ if r.source == "tpe"]
        engine = sa.create_engine(postgres_url)
        with engine.connect() as connection:
            told = connection.exec_driver_sql(
                f"SELECT count(*) FROM \"{OPTUNA_SCHEMA}\".trials WHERE state <> 'RUNNING'"
            ).scalar_one()
            public = connection.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name = 'trials'"
            ).scalar_one()
        engine.dispose()
        assert tuned and told == len(tuned)  # every tuned trial told to the shared study
        assert public == 0  # Optuna's tables stay out of the workspace's schema
        assert ws.get_run(result.run_id).status == "FINISHED"
    finally:
        ws.close()


def test_an_executor_on_a_cluster_without_workers_is_refused(
    dask_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster
    from modelcycle.distributed import _trials

    monkeypatch.setattr(_trials, "WORKERS_WAIT_S", 0.5)
    with (
        LocalCluster(n_workers=0, dashboard_address=None) as empty,
        Client(empty) as client,
        pytest.raises(WorkspaceError, match="no workers"),
    ):
        DaskExecutor(client)


def test_an_executor_waits_for_a_worker_that_is_starting(dask_cluster: str) -> None:
    """A worker still starting (or restarted by its nanny) is waited for, not refused."""
    import threading

    from distributed import LocalCluster

    with LocalCluster(n_workers=0, dashboard_address=None) as cluster, Client(cluster) as client:
        later = threading.Timer(1.0, cluster.scale, args=(1,))
        later.start()
        try:
            assert DaskExecutor(client).slots >= 1
        finally:
            later.cancel()


@pytest.mark.parametrize("address", ["localhost:8786", "http://h:8786", "tcp://h", "tcp://h:1;rm"])
def test_a_cluster_address_is_checked(address: str) -> None:
    with pytest.raises(ValidationError, match="not a Dask scheduler address"):
        connect(address)


def test_an_unreachable_scheduler_says_how_to_start_one() -> None:
    with pytest.raises(
        WorkspaceError, match=r"no Dask scheduler answered at tcp://127\.0\.0\.1:9 "
    ):
        connect("tcp://127.0.0.1:9", timeout_s=1)


def test_without_a_cluster_nothing_about_dask_is_imported(tmp_path: Path) -> None:
    """A local training job, a monitoring pass and the CLI's help never load Dask's client.

    LightGBM's own ``lightgbm.dask`` imports the ``dask`` core package whenever it is
    installed, so only what modelcycle itself would import is checked: ``distributed``
    (the scheduler's client), ``optuna_integration`` and ``modelcycle.distributed``'s
    implementation modules (issue 16).
    """
    code = (
        "import sys\n"
        "import pandas as pd\n"
        "from sklearn.datasets import load_breast_cancer\n"
        "import modelcycle as mc\n"
        "from modelcycle.cli import main\n"
        "x, y = load_breast_cancer(return_X_y=True, as_frame=True)\n"
        f"ws = mc.Workspace({str(tmp_path / 'ws')!r})\n"
        "ws.train(x.assign(target=y), target='target', name='cancer', budget=6)\n"
        "ws.close()\n"
        "import modelcycle.distributed\n"
        f"for args in (['train', '--help'], ['-w', {str(tmp_path / 'ws')!r}, 'monitor', "
        f"'cancer', '--no-record', '-o', {str(tmp_path / 'report')!r}]):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as done:\n"
        "        assert not done.code, done.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('distributed', 'optuna_integration') or m.startswith('modelcycle.distributed._'))\n"
        "print('LOADED', loaded)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    env["PYTHONPATH"] = SRC
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED []" in done.stdout


def test_train_takes_the_cluster_from_the_environment(
    tmp_path: Path,
    cancer: Data,
    dask_cluster: str,
    dask_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "cancer.csv"
    _frame(cancer).to_csv(data, index=False)
    monkeypatch.setenv("MODELCYCLE_DASK_ADDRESS", dask_cluster)
    with get_task_stream(dask_client) as stream:
        code, out, err = run_cli(
            capsys, "-w", str(tmp_path / "ws"), "train", str(data), "-t", "target",
            "--budget", "8", "--json",
        )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert len(_trial_tasks(stream.data)) == summary["trials"] >= 2


def test_a_bad_cluster_option_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "rows.csv"
    pd.DataFrame({"x": range(50), "y": [0, 1] * 25}).to_csv(data, index=False)
    code, _, err = run_cli(
        capsys, "-w", str(tmp_path / "ws"), "train", str(data), "-t", "y",
        "--cluster", "scheduler:8786",
    )  # fmt: skip
    assert code != 0 and "not a Dask scheduler address" in err
    assert "Traceback" not in err


def test_the_studies_connect_with_the_secret_parameters_kept_out_of_the_url(
    postgres_url: str, dask_client: Client
) -> None:
    import optuna

    from modelcycle.distributed import optuna_storage
    from modelcycle.store import Database

    db = Database(f"{postgres_url}?sslpassword=k3y-never-in-a-url")
    try:
        storage = optuna_storage(dask_client, db)
        assert "k3y" not in storage.url
        assert storage.engine_kwargs["connect_args"]["sslpassword"] == "k3y-never-in-a-url"
        study = optuna.create_study(storage=storage, study_name="secret-args")
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
        assert len(study.trials) == 2
    finally:
        db.engine.dispose()


def test_a_trial_task_carries_its_database_as_plain_data(tmp_path: Path) -> None:
    """Unpickling an RDBStorage opens a connection pool: in every process that unpickles a
    task (the scheduler too), one per trial, until PostgreSQL refused new clients and the
    workers died. A task carries the URL; the worker opens the storage and closes it.
    """
    import pickle

    import optuna

    from modelcycle.distributed._trials import _StudyTrial

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    asked = study.ask()
    task = _StudyTrial.of(storage, asked)
    sent = pickle.dumps(task)
    assert "sqlite" not in repr(task)  # Dask logs the repr of arguments: no URL in it
    assert b"RDBStorage" not in sent and b"Engine" not in sent
    database = pickle.loads(sent).storage.open()
    try:
        assert pickle.loads(sent).trial(database).number == asked.number
    finally:
        database.engine.dispose()
    storage.engine.dispose()
