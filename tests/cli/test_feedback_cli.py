"""``modelcycle feedback``: delayed labels from CSV and Parquet files, checked like the server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow.parquet as pq
import pytest

import modelcycle as mc
from modelcycle.core import Settings
from modelcycle.store import LogLayout, inputs_json
from tests.conftest import ObjectStore
from tests.models import Data, log_logistic, run_cli

COLUMNS = ["mean radius", "mean texture", "mean area"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, cancer: Data) -> Path:
    """A workspace whose model ``cancer`` (a logistic regression on three columns) is champion."""
    folder = tmp_path_factory.mktemp("feedback") / "ws"
    with mc.Workspace(folder) as ws:
        ws.registry.register(log_logistic(ws, cancer, 1.0, columns=COLUMNS), name="cancer")
        ws.registry.promote("cancer", 1, force=True)
    return folder


def segments(home: Path) -> set[Path]:
    return set(LogLayout.under(home).feedback_of("cancer").glob("*.parquet"))


def recorded(home: Path, before: set[Path]) -> list[dict[str, Any]]:
    """The rows of the one segment written since ``before``."""
    [segment] = segments(home) - before
    return list(pq.read_table(segment).to_pylist())


def test_labels_by_request_id(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,row,label,note\n123,,1,x\nab12,2,0,y\nab12,0,1.0,z\n")
    before = segments(home)
    code, out, err = run_cli(capsys, "-w", str(home), "feedback", "cancer", str(labels))
    assert code == 0, err
    assert "recorded 3 label(s) for cancer (checked against version 1)" in out
    assert "ignored columns ['note']" in err
    rows = recorded(home, before)
    assert [(r["request_id"], r["row"], r["label"], r["inputs"]) for r in rows] == [
        ("123", 0, "1", None),
        ("ab12", 2, "0", None),
        ("ab12", 0, "1", None),
    ]
    assert {(r["model"], r["source"]) for r in rows} == {("cancer", "file")}


def test_labels_by_inputs_from_parquet(
    home: Path, tmp_path: Path, cancer: Data, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = cancer.x_test[COLUMNS].head(3).assign(outcome=cancer.y_test.head(3).to_numpy())
    labels = tmp_path / "labels.parquet"
    frame.to_parquet(labels, index=False)
    before = segments(home)
    code, _, err = run_cli(
        capsys, "-w", str(home), "feedback", "cancer", str(labels), "--label-column", "outcome"
    )
    assert code == 0, err
    rows = recorded(home, before)
    expected = frame[COLUMNS].to_dict(orient="records")
    assert [r["inputs"] for r in rows] == [inputs_json(row) for row in expected]
    assert [r["label"] for r in rows] == [str(v) for v in frame["outcome"]]
    assert all(r["request_id"] is None and r["row"] is None for r in rows)


def test_bad_rows_fail_naming_file_line_column_value(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nab12,1\nab12,maybe\ncd34,-3\n")
    before = segments(home)
    code, _, err = run_cli(capsys, "-w", str(home), "feedback", "cancer", str(labels))
    assert code == 2
    message = " ".join(err.split())
    assert (
        f"{labels} line 3, column 'label': got 'maybe'; expected one of the model's classes "
        "[0, 1] (and 1 more bad rows); nothing was recorded"
    ) in message
    assert "--skip-invalid" in message and segments(home) == before


def test_skip_invalid_writes_rejects_and_records_the_rest(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["mean radius,mean texture,mean area,label", "14.1,19.2,600.5,1"]
    rows += ["14.1,,600.5,0", "big,19.2,600.5,1", "14.1,19.2,600.5,7"]
    labels.write_text("\n".join(rows) + "\n")
    before = segments(home)
    code, out, err = run_cli(
        capsys, "-w", str(home), "feedback", "cancer", str(labels), "--skip-invalid"
    )
    assert code == 0, err
    rejects = tmp_path / "labels.rejects.csv"
    assert "recorded 1 label(s)" in out and f"3 rejected (see {rejects})" in " ".join(out.split())
    [good] = recorded(home, before)
    assert good["inputs"] == inputs_json(
        {"mean area": 600.5, "mean radius": 14.1, "mean texture": 19.2}
    )
    reasons = pd.read_csv(rejects)
    assert reasons["position"].tolist() == [f"{labels} line {n}" for n in (3, 4, 5)]
    assert reasons["column"].tolist() == ["mean texture", "mean radius", "label"]
    assert "may not be null" in reasons["reason"][0] and "'big'" in reasons["reason"][1]
    assert '"label":"7"' in reasons["values"][2] and "got '7'" in reasons["reason"][2]


@pytest.mark.parametrize(
    ("content", "options", "code", "message"),
    [
        ("request_id,truth\nab,1\n", [], 2, "has no label column 'label'"),
        ("id,label\nab,1\n", ["--request-id-column", "rid"], 2, "no request id column 'rid'"),
        ("request_id,label\n", [], 2, "has no rows"),
        ("request_id,label\nab,1,extra\n", [], 2, "line 2 has more cells than the header's"),
    ],
)
def test_file_level_mistakes(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    options: list[str],
    code: int,
    message: str,
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    found, _, err = run_cli(capsys, "-w", str(home), "feedback", "cancer", str(labels), *options)
    assert found == code and message in " ".join(err.split())


def test_unknown_model_and_format(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nab,1\n")
    code, _, err = run_cli(capsys, "-w", str(home), "feedback", "nope", str(labels))
    assert code == 3 and "nope" in err
    text = tmp_path / "labels.txt"
    text.write_text("request_id,label\nab,1\n")
    code, _, err = run_cli(capsys, "-w", str(home), "feedback", "cancer", str(text))
    assert code == 2 and "expected a .csv or .parquet file" in err


def test_sensitive_inputs_are_hashed_with_the_workspace_salt(
    tmp_path: Path, cancer: Data, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.linear_model import LinearRegression

    from modelcycle.core import Task
    from modelcycle.packaging import InputSpec, Signature
    from modelcycle.serving._privacy import Redactor, workspace_salt

    home = tmp_path / "ws"
    signature = Signature(
        (
            InputSpec("mean radius", "double", False),
            InputSpec("mean area", "double", True, None, True),
        ),
        task=Task.REGRESSION,
    )
    with mc.Workspace(home) as ws:
        frame = cancer.x_train[["mean radius", "mean area"]]
        model = LinearRegression().fit(frame, cancer.x_train["mean texture"])
        with ws.start_run(experiment="feedback") as run:
            run.log_model(model, signature=signature)
        ws.registry.register(run, name="texture")
        ws.registry.promote("texture", 1, force=True)
    labels = tmp_path / "labels.csv"
    labels.write_text("mean radius,mean area,label\n14.1,600.5,19.25\n")
    code, _, err = run_cli(capsys, "-w", str(home), "feedback", "texture", str(labels))
    assert code == 0, err
    [segment] = LogLayout.under(home).feedback_of("texture").glob("*.parquet")
    [row] = pq.read_table(segment).to_pylist()
    hashed = Redactor("hash", workspace_salt(home)).hash(600.5)
    assert row["inputs"] == inputs_json({"mean area": hashed, "mean radius": 14.1})
    assert row["label"] == "19.25" and "600.5" not in row["inputs"]


def test_labels_are_published_to_a_bucket_or_stay_staged(
    home: Path, tmp_path: Path, object_store: ObjectStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: with --log-url s3://..., labels go to the bucket, or wait staged."""
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nab12,1\ncd34,0\n")
    missing = f"s3://mc-none-{uuid.uuid4().hex[:8]}/logs"
    args = ["-w", str(home), "feedback", "cancer", str(labels)]
    code, out, err = run_cli(capsys, *args, "--log-url", missing)
    assert code == 0, err
    assert "bucket does not exist" in err and "stay staged" in err and "staged in" in out
    staged = list((home / "log-staging").rglob("*.parquet"))
    assert len(staged) == 1

    logs = object_store.url.replace("/artifacts", "/logs")
    code, out, err = run_cli(capsys, *args, "--log-url", logs)
    assert code == 0, err
    assert f"published to {logs}" in out
    published = fsspec.filesystem("s3", skip_instance_cache=True).find(
        logs.removeprefix("s3://") + "/feedback/cancer"
    )
    assert len(published) == 1 and staged[0].exists()  # staged for the other URL: kept
    reader = LogLayout.of(Settings(home=tmp_path / "other", log_url=logs))
    assert pq.read_table(reader.feedback_of("cancer")).num_rows == 2
