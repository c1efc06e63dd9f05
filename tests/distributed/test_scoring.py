"""Batch scoring of partitioned Parquet on a real Dask cluster (issue 16)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from distributed import Client
from modelcycle.core import ValidationError
from modelcycle.distributed import score_partitions
from modelcycle.serving import load_served, score_file
from tests.conftest import ObjectStore
from tests.models import Data, run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, cancer: Data) -> Iterator[Path]:
    """A workspace with model ``cancer`` (a quick linear model), trained here."""
    home = tmp_path_factory.mktemp("scoring") / "ws"
    frame = cancer.x_train.assign(target=cancer.y_train.to_numpy())
    with mc.Workspace(home) as ws:
        ws.train(frame, target="target", name="cancer", budget=6, learners=["linear"])
    return home


def _write_partitions(folder: Path, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Three partitions, one in a subfolder; the last has one row the model must refuse."""
    bad = rows.iloc[120:].copy()
    bad.iloc[3, 0] = np.inf
    parts = {"a.parquet": rows.iloc[:60], "sub/b.parquet": rows.iloc[60:120], "z.parquet": bad}
    for name, part in parts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        part.reset_index(drop=True).to_parquet(folder / name)
    return parts


def _single_machine(ws: mc.Workspace, folder: Path, tmp: Path) -> dict[str, pd.DataFrame]:
    model = load_served(ws.registry, "cancer/1", max_rows=50_000)
    scored = {}
    for index, path in enumerate(sorted(folder.rglob("*.parquet"))):
        out = tmp / f"one-{index}.parquet"
        score_file(model, path, out, rejects=tmp / f"one-{index}.csv", keep=["mean radius"])
        scored[path.relative_to(folder).as_posix()] = pd.read_parquet(out)
    return scored


def test_the_cli_scores_each_partition_as_one_machine_would(
    trained: Path,
    tmp_path: Path,
    cancer: Data,
    dask_cluster: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "rows"
    parts = _write_partitions(source, cancer.x_test)
    output, rejects = tmp_path / "scored", tmp_path / "bad.csv"
    code, out, err = run_cli(
        capsys, "-w", str(trained), "score", "cancer/1", str(source), "-o", str(output),
        "--rejects", str(rejects), "--keep", "mean radius", "--cluster", dask_cluster,
    )  # fmt: skip
    assert code == 9, err  # a row was rejected: the single-machine exit code
    assert "of 3 partitions" in out and "1 rows rejected" in err
    written = sorted(p.relative_to(output).as_posix() for p in output.rglob("*.parquet"))
    assert written == sorted(parts)
    with mc.Workspace(trained) as ws:
        expected = _single_machine(ws, source, tmp_path)
    for name in parts:
        pd.testing.assert_frame_equal(pd.read_parquet(output / name), expected[name])
    assert sum(len(pd.read_parquet(output / n)) for n in parts) == len(cancer.x_test) - 1
    with open(rejects, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["partition", "row", "column", "value", "reason", "values"]
    assert [r[:3] for r in rows[1:]] == [["z.parquet", "3", "mean radius"]]
    assert not list(tmp_path.glob(".*partial")) and not list(output.rglob(".*partial"))


def test_partitions_in_object_storage_are_scored_into_object_storage(
    trained: Path, tmp_path: Path, cancer: Data, dask_client: Client, object_store: ObjectStore
) -> None:
    import fsspec

    env = object_store.environment
    dask_client.run(lambda: os.environ.update(env))  # the workers' credentials, as deployed
    local = tmp_path / "rows"
    parts = _write_partitions(local, cancer.x_test)
    bucket = object_store.url.split("/")[2]
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.put(str(local), f"{bucket}/rows", recursive=True)
    with mc.Workspace(trained) as ws:
        model = load_served(ws.registry, "cancer/1", max_rows=50_000)
        seen: list[int] = []
        summary = score_partitions(
            dask_client, ws.settings, model, f"s3://{bucket}/rows", f"s3://{bucket}/scored",
            rejects=tmp_path / "rejects.csv", progress=lambda done, rows: seen.append(done),
        )  # fmt: skip
    assert (summary.scored, summary.rejected, summary.partitions) == (len(cancer.x_test) - 1, 1, 3)
    assert summary.rejects == tmp_path / "rejects.csv" and summary.rejects.exists()
    assert sorted(seen) == [1, 2, 3]
    names = sorted(p.split("/scored/")[1] for p in fs.find(f"{bucket}/scored"))
    assert names == sorted(parts)
    with fs.open(f"{bucket}/scored/sub/b.parquet") as handle:
        assert len(pd.read_parquet(handle)) == 60


def test_a_partition_without_a_required_column_stops_the_run(
    trained: Path, tmp_path: Path, cancer: Data, dask_client: Client
) -> None:
    source = tmp_path / "rows"
    source.mkdir()
    cancer.x_test.iloc[:20].to_parquet(source / "a.parquet")
    cancer.x_test.iloc[20:40].drop(columns="mean area").to_parquet(source / "b.parquet")
    with mc.Workspace(trained) as ws:
        model = load_served(ws.registry, "cancer/1", max_rows=50_000)
        with pytest.raises(ValidationError, match="'mean area'"):
            score_partitions(
                dask_client, ws.settings, model, str(source), str(tmp_path / "out"),
                rejects=tmp_path / "r.csv",
            )  # fmt: skip


@pytest.mark.parametrize("case", ["empty", "not-empty"])
def test_sources_without_parquet_and_used_outputs_are_refused(
    trained: Path, tmp_path: Path, dask_client: Client, case: str
) -> None:
    source, output = tmp_path / "rows", tmp_path / "out"
    source.mkdir()
    if case == "not-empty":
        pd.DataFrame({"x": [1.0]}).to_parquet(source / "a.parquet")
        output.mkdir()
        (output / "old.parquet").write_bytes(b"")
    expected = "holds no .parquet files" if case == "empty" else "is not an empty folder"
    with mc.Workspace(trained) as ws:
        model = load_served(ws.registry, "cancer/1", max_rows=10)
        with pytest.raises(ValidationError, match=expected):
            score_partitions(
                dask_client, ws.settings, model, str(source), str(output), rejects=tmp_path / "r"
            )


@pytest.mark.parametrize(
    ("source", "expected"),
    [("missing.parquet", "does not exist"), ("s3://bucket/rows/", "need --cluster")],
)
def test_score_refuses_what_it_cannot_read_in_one_line(
    trained: Path, source: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "-w", str(trained), "score", "cancer/1", source)
    assert code != 0 and expected in err and "Traceback" not in err
