"""Batch scoring: stream a Parquet or CSV file in chunks, predict, write rejects with reasons.

Each chunk is read with pyarrow, checked row by row with the same validator as the
server, predicted in one call, and appended to the output; a bad row goes to the
reject file (its position, reason and values) instead of stopping the run. Memory
holds one chunk at a time, so files larger than memory are fine.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from modelcycle.core import ValidationError
from modelcycle.serving._model import ServedModel


@dataclass(frozen=True)
class ScoreSummary:
    """How a batch scoring run went."""

    scored: int
    rejected: int
    output: Path
    rejects: Path


def _batches(source: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    if source.suffix.lower() == ".parquet":
        yield from pq.ParquetFile(source).iter_batches(batch_size=chunk_rows)
        return
    if source.suffix.lower() != ".csv":
        raise ValidationError(f"cannot score {str(source)!r}; expected a .parquet or .csv file")
    yield from pa_csv.open_csv(source, read_options=pa_csv.ReadOptions(block_size=1 << 22))


def _split(
    model: ServedModel, rows: list[dict[str, Any]], start: int
) -> tuple[list[int], list[Any]]:
    good: list[int] = []
    bad: list[Any] = []
    for index, row in enumerate(rows):
        try:
            model.validator.rows([row])
        except ValidationError as error:
            bad.append([start + index, error.message, orjson.dumps(row, default=str).decode()])
        else:
            good.append(index)
    return good, bad


def _scored(model: ServedModel, rows: list[dict[str, Any]], positions: list[int]) -> pa.Table:
    prediction = model.predict(rows)
    columns: dict[str, Any] = {"row": pa.array(positions, pa.int64())}
    columns["prediction"] = pa.array(prediction.predictions.tolist())
    if prediction.probabilities is not None:
        for index, label in enumerate(model.classes or ()):
            columns[f"proba_{label}"] = pa.array(prediction.probabilities[:, index], pa.float64())
    return pa.table(columns)


def score_file(
    model: ServedModel,
    source: Path,
    output: Path,
    *,
    rejects: Path,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score ``source`` into ``output`` (Parquet, or CSV when it ends in ``.csv``).

    The output has the input row position, the prediction and one ``proba_<class>``
    column per class; rejected rows go to ``rejects`` (CSV: row, reason, values).
    """
    writer: Any = None
    schema: pa.Schema | None = None
    scored = rejected = start = 0
    with open(rejects, "w", newline="") as handle:
        reasons = csv.writer(handle)
        reasons.writerow(["row", "reason", "values"])
        for batch in _batches(source, chunk_rows):
            rows = batch.to_pylist()
            good, bad = _split(model, rows, start)
            reasons.writerows(bad)
            if good:
                table = _scored(model, [rows[i] for i in good], [start + i for i in good])
                if writer is None:
                    schema, writer = table.schema, _writer(output, table.schema)
                writer.write_table(table.cast(schema))
            scored, rejected, start = scored + len(good), rejected + len(bad), start + len(rows)
            if progress is not None:
                progress(len(rows))
    if writer is not None:
        writer.close()
    return ScoreSummary(scored, rejected, output, rejects)


def _writer(output: Path, schema: pa.Schema) -> Any:
    if output.suffix.lower() == ".csv":
        return pa_csv.CSVWriter(output, schema)
    return pq.ParquetWriter(output, schema)
