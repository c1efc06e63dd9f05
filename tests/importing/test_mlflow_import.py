"""``modelcycle import mlflow`` from stores MLflow's own client wrote (issue 18).

One subprocess writes an MLflow SQLite store and a file store as a user's MLflow
scripts would: experiments (one named as modelcycle does not allow), runs with params,
metric histories, tags, artifacts, a nested run and a NaN, a LightGBM model in its
native format and a pickled scikit-learn model, registered with versions and aliases.
Importing must copy all of it, say what it left out, never unpickle without
``--trust-pickle``, and import nothing the second time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.importing import IMPORTED_TAG, experiment_name, import_mlflow
from tests.models import run_cli

WRITER = textwrap.dedent(
    """
    import json, math, os, sys, tempfile

    import lightgbm as lgb
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"age": rng.integers(18, 80, 200).astype(float), "income": rng.normal(50, 9, 200)}
    )
    y = (X.age > 45).astype(int)
    signature = infer_signature(X, y)
    ids = {}

    def write(uri, full):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient()
        mlflow.set_experiment("fraud")
        with mlflow.start_run(run_name="manual") as run:
            mlflow.log_params({"lr": 0.1, "depth": 3})
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("broken", float("nan"))
            mlflow.set_tag("team", "risk")
            mlflow.log_text("hello", "docs/notes.txt")
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("inner", 2.0)
        ids[uri] = {"manual": run.info.run_id, "child": child.info.run_id}
        options = {"objective": "binary", "verbose": -1, "num_leaves": 4}
        booster = lgb.train(options, lgb.Dataset(X, y), 5)
        for name in ("first", "second"):
            with mlflow.start_run(run_name=name):
                mlflow.lightgbm.log_model(
                    booster, name="model", signature=signature,
                    registered_model_name="fraud-lgb", pip_requirements=["lightgbm"],
                )
        client.set_registered_model_alias("fraud-lgb", "champion", "2")
        client.set_registered_model_alias("fraud-lgb", "challenger", "1")
        if full:
            mlflow.set_experiment("team@example.com/churn")
            with mlflow.start_run(run_name="pickled"):
                mlflow.sklearn.log_model(
                    LogisticRegression().fit(X, y), name="model", signature=signature,
                    registered_model_name="fraud-sk", pip_requirements=["scikit-learn"],
                )
            client.set_registered_model_alias("fraud-sk", "champion", "1")

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    write(sys.argv[1], True)
    write(sys.argv[2], False)
    json.dump(ids, sys.stdout)
    """
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("mlflow-stores")
    (folder / "write.py").write_text(WRITER)
    sqlite, files = f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns")
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODELCYCLE_"))
    }
    done = subprocess.run(
        [sys.executable, str(folder / "write.py"), sqlite, files],
        capture_output=True, text=True, env=environment, cwd=folder, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    return {"sqlite": sqlite, "files": files, "ids": ids}


def test_a_sqlite_store_is_imported_whole_then_nothing_new(
    stores: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = str(stores["sqlite"])
    ids = stores["ids"][uri]  # type: ignore[index]
    home = str(tmp_path / "ws")
    code, out, err = run_cli(
        capsys, "--workspace", home, "import", "mlflow", "--tracking-uri", uri, "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["imported"]["runs"] == 5 and summary["imported"]["model versions"] == 2
    assert summary["imported"]["aliases"] == 2 and summary["imported"]["metric values"] >= 4
    left_out = "\n".join(summary["not_imported"])
    assert "NaN or infinite" in left_out and "'broken'" in left_out
    assert "model 'fraud-sk' version 1" in left_out and "--trust-pickle" in left_out
    assert "alias fraud-sk@champion" in left_out
    assert "'team@example.com/churn'" in left_out and "team_example.com/churn" in left_out

    ws = mc.Workspace(home)
    manual = ws.get_run(ids["manual"])
    assert manual.experiment == "fraud" and manual.status == "FINISHED" and manual.name == "manual"
    assert manual.params == {"lr": "0.1", "depth": "3"} and manual.tags["team"] == "risk"
    assert [v for _, v, _ in manual.metric_history("loss")] == [1.0, 0.5, 1 / 3]
    assert manual.read_artifact("docs/notes.txt") == b"hello" and manual.tags[IMPORTED_TAG]
    assert ws.get_run(ids["child"]).parent_run_id == ids["manual"]
    assert ws.registry.resolve("fraud-lgb@champion").version == 2
    assert ws.registry.resolve("fraud-lgb@challenger").version == 1
    assert ws.registry.load("fraud-lgb@champion").predict(
        [{"age": 60.0, "income": 50.0}]
    ).shape == (1,)
    assert "fraud-sk" not in {m["name"] for m in ws.registry.models()}  # never unpickled
    ws.close()

    code, out, err = run_cli(
        capsys, "--workspace", home, "import", "mlflow", "--tracking-uri", uri, "--json"
    )
    again = json.loads(out)
    assert code == 0 and not any(again["imported"].values()), again
    assert (
        again["already_imported"]["runs"] == 5 and again["already_imported"]["model versions"] == 2
    )

    code, out, _ = run_cli(
        capsys,
        "--workspace",
        home,
        "import",
        "mlflow",
        "--tracking-uri",
        uri,
        "--trust-pickle",
        "--json",
    )
    trusted = json.loads(out)
    assert trusted["imported"] == {"model versions": 1, "aliases": 1}, trusted
    with mc.Workspace(home) as ws:
        version = ws.registry.resolve("fraud-sk@champion")
        assert version.description.startswith("mlflow:fraud-sk/1") and version.flavor == "sklearn"


def test_a_file_store_is_imported(stores: dict[str, object], tmp_path: Path) -> None:
    uri = str(stores["files"])
    ids = stores["ids"][uri]  # type: ignore[index]
    with mc.Workspace(tmp_path / "ws") as ws:
        summary = import_mlflow(ws.tracker, ws.registry, uri)
        assert summary.imported["runs"] == 4 and summary.imported["model versions"] == 2
        assert [v for _, v, _ in ws.get_run(ids["manual"]).metric_history("loss")] == [
            1.0,
            0.5,
            1 / 3,
        ]
        assert ws.registry.resolve("fraud-lgb@champion").version == 2
        assert import_mlflow(ws.tracker, ws.registry, uri).nothing_new
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (None, "--tracking-uri"),
        ("sqlite:///{tmp}/nothing.db", "does not exist"),
        ("sqlite://", "does not exist"),
        ("{tmp}/no-mlruns", "does not exist"),
        ("file://{tmp}/no-mlruns", "does not exist"),
        ("nosuchscheme://x", "cannot open"),
    ],
)
def test_a_store_that_cannot_be_read_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str | None, expected: str
) -> None:
    given = [] if uri is None else ["--tracking-uri", uri.format(tmp=tmp_path)]
    code, _, err = run_cli(capsys, "--workspace", str(tmp_path / "ws"), "import", "mlflow", *given)
    assert code != 0 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "nothing.db").exists() and not (tmp_path / "no-mlruns").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Default", "default"),
        ("fraud", "fraud"),
        ("team@example.com/churn", "team_example.com/churn"),
        ("/Users/a@b.c/x", "Users/a_b.c/x"),
        ("a/../b", "a/_/b"),
        ("\u00e9t\u00e9", "_t_"),
        ("///", "mlflow-7"),
    ],
)
def test_experiment_names_modelcycle_does_not_allow_are_renamed(name: str, expected: str) -> None:
    assert experiment_name(name, "7") == expected
    if expected != "default":
        mc.core.EXPERIMENT_NAME.check(expected)
