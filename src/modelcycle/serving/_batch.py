"""Batch scoring: stream a Parquet or CSV file in chunks, predict, write rejects with reasons.

Only the model's input columns (and the columns the caller keeps) are read. CSV cells
are read as text and converted by the model's signature, so one bad cell (``"forty"``
in a number column) rejects its row, not the column or the file. Each chunk is checked
with the same validator as the server and predicted in one call: column by column
(numbers from Arrow to NumPy, no row dicts) when every value passes, row by row
otherwise, to find each bad one. A Parquet timestamp or date column is read as the
ISO 8601 text a date-time input takes. Rows that fail go to the reject file with their
line (CSV, the header being line 1) or row (Parquet, counted from 0), the column, the
value and the reason. Memory holds one chunk at a time. The output and the reject file
are written under temporary names and renamed when complete, and only when they have
rows.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from modelcycle.core import ValidationError
from modelcycle.packaging import InputSpec
from modelcycle.serving._columnar import Columns
from modelcycle.serving._encode import plain
from modelcycle.serving._model import ServedModel

#: Text a CSV cell may hold for a missing value.
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


@dataclass(frozen=True)
class ScoreSummary:
    """How a batch scoring run went; ``output``/``rejects`` are ``None`` when not written."""

    scored: int
    rejected: int
    output: Path | None
    rejects: Path | None


@dataclass(frozen=True)
class _Source:
    """An input file: its batches, and how its rows are numbered for people."""

    batches: Iterator[pa.RecordBatch]
    position: str  # "line" (CSV) or "row" (Parquet)
    first: int  # the number of the first data row


def _open(source: Path, model: ServedModel, keep: Sequence[str], chunk_rows: int) -> _Source:
    wanted = [*keep, *(n for n in model.signature.names if n not in keep)]
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        try:
            parquet = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationError(f"cannot read {str(source)!r} as Parquet: {exc}") from None
        _check_columns(source, parquet.schema_arrow.names, model, keep)
        present = [name for name in wanted if name in parquet.schema_arrow.names]
        batches = parquet.iter_batches(batch_size=chunk_rows, columns=present)
        dates = [
            spec.name
            for spec in model.signature.inputs
            if spec.type == "datetime"
            and spec.name in present
            and _is_date(parquet.schema_arrow.field(spec.name).type)
        ]
        return _Source(_dates_as_text(batches, dates) if dates else batches, "row", 0)
    if suffix != ".csv":
        raise ValidationError(f"cannot score {str(source)!r}; expected a .parquet or .csv file")
    header = _csv_header(source)
    _check_columns(source, header, model, keep)
    present = [name for name in wanted if name in header]
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(block_size=1 << 22),
            convert_options=pa_csv.ConvertOptions(
                include_columns=present,
                column_types={name: pa.string() for name in present},
                null_values=list(MISSING_TEXT),
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"cannot read {str(source)!r} as CSV: {exc}") from None
    return _Source(_limited(reader, chunk_rows), "line", 2)


def _is_date(kind: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(kind) or pa.types.is_date(kind))


def _dates_as_text(
    batches: Iterator[pa.RecordBatch], names: Sequence[str]
) -> Iterator[pa.RecordBatch]:
    """Batches whose date and time columns ``names`` hold ISO 8601 text, as a request does.

    A Parquet file keeps a date-time column as a timestamp (or date); the model's
    signature takes it as the text a client sends (``datetime.isoformat()``).
    """
    for batch in batches:
        for name in names:
            index = batch.schema.get_field_index(name)
            batch = batch.set_column(index, name, _iso_text(batch.column(index)))
        yield batch


def _iso_text(column: pa.Array) -> pa.Array:
    """``isoformat()`` of each date or time (see :func:`_python_values` for one Python
    cannot hold: its text, which the signature's check then refuses for its row)."""
    values = _python_values(column)
    return pa.array([v if v is None or isinstance(v, str) else v.isoformat() for v in values],
                    pa.string())  # fmt: skip


def _python_values(column: pa.Array) -> list[Any]:
    """The column's values in Python; one Python cannot hold (a crafted file's date past
    the year 9999) as the text Arrow writes for it."""
    try:
        found: list[Any] = column.to_pylist()
        return found
    except (OverflowError, ValueError):
        written = pc.cast(column, pa.string()).to_pylist()
        values: list[Any] = []
        for index, text in enumerate(written):
            try:
                values.append(column[index].as_py())
            except (OverflowError, ValueError):
                values.append(text)
        return values


def _csv_header(source: Path) -> list[str]:
    try:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"cannot read the header of {str(source)!r}: {exc}") from None


def _check_columns(
    source: Path, header: Sequence[str], model: ServedModel, keep: Sequence[str]
) -> None:
    names = set(header)
    missing = [s.name for s in model.signature.inputs if s.required and s.name not in names]
    if missing:
        raise ValidationError(
            f"{str(source)!r} has no column {missing[0]!r}, which model {model.name} version "
            f"{model.version} requires (missing: {missing[:10]}); its columns are "
            f"{list(header)[:20]}",
            details={"file": str(source), "missing": missing},
        )
    unknown = [name for name in keep if name not in names]
    if unknown:
        raise ValidationError(
            f"--keep names column {unknown[0]!r}, which {str(source)!r} does not have; "
            f"its columns are {list(header)[:20]}",
            details={"file": str(source), "column": unknown[0]},
        )


def _limited(reader: Any, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


class _BadCell(Exception):
    def __init__(self, spec: InputSpec, value: str, reason: str) -> None:
        super().__init__(reason)
        self.spec, self.value, self.reason = spec, value, reason


def _convert(spec: InputSpec, text: str | None) -> Any:
    """A CSV cell (text or ``None``) as the value the signature expects."""
    if text is None:
        return None
    if spec.type in ("double", "long"):
        try:
            number = float(text)
        except ValueError:
            raise _BadCell(spec, text, "not a number") from None
        if not math.isfinite(number):
            raise _BadCell(spec, text, "not a finite number")
        if spec.type == "long":
            if not number.is_integer():
                raise _BadCell(spec, text, "not a whole number")
            return int(number)
        return number
    if spec.type == "boolean":
        word = text.strip().lower()
        if word not in _TRUE and word not in _FALSE:
            raise _BadCell(spec, text, f"not one of {sorted(_TRUE | _FALSE)}")
        return word in _TRUE
    return text


@dataclass
class _Chunk:
    """The rows of one chunk to score (with their numbers and records), and those rejected.

    ``columns`` holds the rows as the model's columns once the whole chunk passed the
    column checks; the model reads those fastest.
    """

    rows: list[dict[str, Any]]
    numbers: list[int]
    records: list[dict[str, Any]]
    rejects: list[list[Any]]
    columns: Columns | None = None


def _prepare(
    model: ServedModel, records: list[dict[str, Any]], numbers: range, text: bool
) -> _Chunk:
    """The model's rows of ``records``; a cell that does not convert rejects its row."""
    specs = [spec for spec in model.signature.inputs if records and spec.name in records[0]]
    chunk = _Chunk([], [], [], [])
    for number, record in zip(numbers, records, strict=True):
        try:
            row = {s.name: _convert(s, record[s.name]) if text else record[s.name] for s in specs}
        except _BadCell as bad:
            reason = f"expected a {bad.spec.type} value: {bad.reason}"
            chunk.rejects.append([number, bad.spec.name, bad.value, reason, _values(record)])
            continue
        chunk.rows.append(row)
        chunk.numbers.append(number)
        chunk.records.append(record)
    return chunk


def _batch_columns(model: ServedModel, batch: pa.RecordBatch, text: bool) -> Columns | None:
    """The batch as the model's columns when every row passes, read column by column.

    ``None`` when any value needs a closer look; the rows then go through
    :func:`_prepare` and :func:`_validated`, which find and explain each bad one. Every
    row accepted here is accepted there, with the same values.
    """
    present = set(batch.schema.names)
    cells: dict[str, Any] = {}
    for spec in model.signature.inputs:
        if spec.name not in present:
            continue
        column = batch.column(spec.name)
        if spec.type in ("double", "long"):
            found = _numbers(column, spec, text)
            if found is None:
                return None
            cells[spec.name] = found
        elif text:
            try:
                cells[spec.name] = [_convert(spec, value) for value in column.to_pylist()]
            except _BadCell:
                return None
        else:
            cells[spec.name] = column.to_pylist()
    return model.validator.as_columns(cells)


#: Whole numbers read from text stay exact below this magnitude (as int64).
_INT64_BOUND = float(2**63)


def _numbers(column: pa.Array, spec: InputSpec, text: bool) -> np.ndarray | None:
    """A number column as int64, or float64 with NaN where missing; ``None`` to look closer.

    Text is parsed by Arrow, whose accepted spellings are a subset of Python's
    ``float`` (the row path's) with the same correctly rounded values; anything it
    refuses, and any non-finite or (for ``long``) fractional value, goes the row path.
    """
    if text:
        try:
            parsed = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        if pc.all(pc.is_finite(parsed)).as_py() is False:
            return None
        values = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)
        if spec.type == "long":
            known = values[~np.isnan(values)]
            if not (np.floor(known) == known).all() or (np.abs(known) >= _INT64_BOUND).any():
                return None
            if parsed.null_count == 0:
                return values.astype(np.int64)
        return values
    kind = column.type
    if not pa.types.is_integer(kind) and not pa.types.is_floating(kind):
        return None
    read = np.asarray(column.to_numpy(zero_copy_only=False))  # NaN for a null
    if read.dtype.kind == "f":
        return read.astype(np.float64)
    if kind == pa.uint64() and read.size and int(read.max()) >= 2**63:
        return read.astype(np.float64)
    return read.astype(np.int64)


def _values(record: dict[str, Any]) -> str:
    return orjson.dumps(record, default=str).decode()


def _validated(model: ServedModel, chunk: _Chunk) -> _Chunk:
    """The chunk without the rows the validator refuses (checked one by one on failure)."""
    try:
        if chunk.rows:
            chunk.columns = model.validator.prepare(chunk.rows).columns
        return chunk
    except ValidationError:
        pass
    good = _Chunk([], [], [], chunk.rejects)
    for row, number, record in zip(chunk.rows, chunk.numbers, chunk.records, strict=True):
        try:
            model.validator.rows([row])
        except ValidationError as error:
            found = error.details
            reason = found.get("expected") or error.message
            good.rejects.append(
                [number, found.get("field"), found.get("value"), reason, _values(record)]
            )
            continue
        good.rows.append(row)
        good.numbers.append(number)
        good.records.append(record)
    return good


def _scored(
    model: ServedModel,
    chunk: _Chunk,
    batch: pa.RecordBatch,
    start: int,
    source: _Source,
    keep: Sequence[str],
) -> pa.Table:
    prediction = model.predict(chunk.columns if chunk.columns is not None else chunk.rows)
    taken = pa.array([number - start for number in chunk.numbers], pa.int64())
    columns: dict[str, Any] = {name: batch.column(name).take(taken) for name in keep}
    columns[source.position] = pa.array(chunk.numbers, pa.int64())
    columns["prediction"] = _prediction_column(prediction.predictions)
    if prediction.probabilities is not None:
        for index, label in enumerate(model.classes or ()):
            columns[f"proba_{label}"] = pa.array(prediction.probabilities[:, index], pa.float64())
    return pa.table(columns)


def _prediction_column(predictions: Any) -> pa.Array:
    """The predictions as one Arrow column; labels of mixed types become their text."""
    values = plain(predictions)
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def score_file(
    model: ServedModel,
    source: Path,
    output: Path,
    *,
    rejects: Path,
    chunk_rows: int = 50_000,
    keep: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score ``source`` into ``output`` (Parquet, or CSV when it ends in ``.csv``).

    The output has the ``keep`` columns, the input's ``line`` (CSV) or ``row``
    (Parquet), the prediction and one ``proba_<class>`` column per class. Rejected
    rows go to ``rejects`` (CSV: line or row, column, value, reason, values). Either
    file is written only when it has rows.

    Raises
    ------
    ValidationError
        The file cannot be read, lacks a column the model requires, or lacks a ``keep``
        column; nothing is written then.
    """
    opened = _open(source, model, keep, chunk_rows)
    out, bad = _Output(output), _Output(rejects)
    scored = rejected = 0
    start = opened.first
    try:
        for batch in _readable(opened.batches, source):
            numbers = range(start, start + batch.num_rows)
            text = opened.position == "line"
            columns = _batch_columns(model, batch, text)
            if columns is not None:
                chunk = _Chunk([], list(numbers), [], [], columns)
            else:
                records = _records(batch)
                chunk = _validated(model, _prepare(model, records, numbers, text))
            if chunk.numbers:
                out.write(_scored(model, chunk, batch, start, opened, keep))
            if chunk.rejects:
                bad.write_rows(opened.position, chunk.rejects)
            scored, rejected = scored + len(chunk.numbers), rejected + len(chunk.rejects)
            start += batch.num_rows
            if progress is not None:
                progress(batch.num_rows)
    except BaseException:
        out.discard()
        bad.discard()
        raise
    return ScoreSummary(scored, rejected, out.publish(), bad.publish())


def _readable(batches: Iterator[pa.RecordBatch], source: Path) -> Iterator[pa.RecordBatch]:
    """``batches``, a file that cannot be read past some point named as such."""
    try:
        yield from batches
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"cannot read {str(source)!r}: {exc}") from None


def _records(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The chunk's rows as dicts (a value Python cannot hold as its text)."""
    try:
        records: list[dict[str, Any]] = batch.to_pylist()
        return records
    except (OverflowError, ValueError):
        columns = [_python_values(column) for column in batch.columns]
        rows = zip(*columns, strict=True)
        return [dict(zip(batch.schema.names, row, strict=True)) for row in rows]


class _Output:
    """A file written under a temporary name and renamed into place once complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._writer: Any = None
        self._schema: pa.Schema | None = None
        self._handle: Any = None
        self._csv: Any = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._schema = table.schema
            self._writer = (
                pa_csv.CSVWriter(self.partial, table.schema)
                if self.path.suffix.lower() == ".csv"
                else pq.ParquetWriter(self.partial, table.schema)
            )
        self._writer.write_table(table.cast(self._schema))

    def write_rows(self, position: str, rows: list[list[Any]]) -> None:
        if self._csv is None:
            # Open across chunks; closed by publish() or discard().
            self._handle = open(self.partial, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._csv = csv.writer(self._handle)
            self._csv.writerow([position, "column", "value", "reason", "values"])
        self._csv.writerows(rows)

    def _close(self) -> bool:
        wrote = self._writer is not None or self._handle is not None
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        self._writer = self._handle = None
        return wrote

    def publish(self) -> Path | None:
        if not self._close():
            return None
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()
