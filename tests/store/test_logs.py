"""Log segments: every writer process names its own files (issue 16, several replicas)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pyarrow.parquet as pq

from modelcycle.store import PREDICTION_SCHEMA, write_segment
from modelcycle.store._logs import writer_id


def _write(folder: str) -> str:
    table = PREDICTION_SCHEMA.empty_table()
    return write_segment(folder, table).name


def test_two_processes_name_their_segments_apart(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        names = pool.map(_write, [str(tmp_path)] * 2, chunksize=1)
    names.append(_write(str(tmp_path)))
    writers = {name.split("-")[1] for name in names}
    assert len(writers) == len(names) == 3  # two children and this process
    assert writer_id() in writers
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == sorted(names)
    for name in names:
        stamp, writer, tail = name.removesuffix(".parquet").split("-")
        assert len(stamp) == 21 and len(tail) == 8 and writer.count(".") >= 2
        assert pq.read_table(tmp_path / name).schema.equals(PREDICTION_SCHEMA)
