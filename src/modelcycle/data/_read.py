"""Reading tables from CSV and Parquet files or SQL queries, whole or in batches.

CSV goes through pyarrow's multithreaded reader (the engine behind ``pandas.read_csv(
engine="pyarrow")``), called directly so whole reads and batched reads convert to the
same dtypes. Should a column's type change after the block pyarrow inferred it from, a
whole read falls back to pandas' C parser instead of failing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelcycle.core import ValidationError

if TYPE_CHECKING:  # pandas loads with the first frame: a CSV's header needs only pyarrow
    import pandas as pd

#: A file path, a database URL, or ``None`` (with ``sql=``: DuckDB over the files it names).
TableSource = str | os.PathLike[str] | None

#: Rows per batch of :func:`iter_batches` when none is given.
DEFAULT_BATCH_ROWS = 65_536

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET = {".parquet", ".pq", ".parq"}
_COMPRESSED = {".gz", ".bz2", ".zst", ".lz4", ".xz"}
_EXPECTED = "expected a .csv or .tsv file (optionally .gz, .bz2, .zst), a .parquet file or folder"
_CONVERT = pacsv.ConvertOptions(strings_can_be_null=True)

FileFormat = Literal["csv", "parquet"]


@overload
def read_table(
    source: TableSource, *, sql: str | None = ..., chunksize: None = ...
) -> pd.DataFrame: ...
@overload
def read_table(
    source: TableSource, *, sql: str | None = ..., chunksize: int
) -> Iterator[pd.DataFrame]: ...
def read_table(
    source: TableSource, *, sql: str | None = None, chunksize: int | None = None
) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """Read a CSV or Parquet file, or the result of a SQL query, into a DataFrame.

    Parameters
    ----------
    source:
        A ``.csv``/``.tsv`` file (optionally compressed), a ``.parquet`` file or a folder
        of Parquet files; with ``sql``: a SQLAlchemy URL (``sqlite:///x.db``,
        ``postgresql://...``), a ``.duckdb`` or SQLite (``.db``, ``.sqlite``) file, or
        ``None`` to run the query in DuckDB over the files it names.
    sql:
        A query to run against ``source``.
    chunksize:
        When given, return an iterator of DataFrames of this many rows instead (see
        :func:`iter_batches`).

    Returns
    -------
    pandas.DataFrame or iterator of pandas.DataFrame

    Raises
    ------
    ValidationError
        The file does not exist, its extension is unknown, it cannot be parsed, or the
        query fails; the message names the file or database.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b\\n1,x\\n2,y\\n")
    >>> read_table(path).shape
    (2, 2)
    >>> read_table(None, sql=f"select a from '{path}' where b = 'y'")["a"].tolist()
    [2]
    """
    if chunksize is not None:
        return iter_batches(source, sql=sql, batch_rows=chunksize)
    if sql is not None:
        from modelcycle.data._sql import read_sql  # SQLAlchemy: only for queries

        return read_sql(source, sql)
    path = _existing_file(source)
    if file_format(path) == "csv":
        return _read_csv(path)
    return _read_parquet(path)


def iter_batches(
    source: TableSource, *, sql: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Yield a table in DataFrames of ``batch_rows`` rows (the last may be shorter).

    Only one batch (plus pyarrow's read-ahead) is in memory at a time. CSV column types
    are inferred from the first block of the file and kept for every batch, so all
    batches share dtypes; each batch's index continues the row numbers of the source.
    The source is checked before the first batch is asked for.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> pd.DataFrame({"a": range(5)}).to_parquet(path)
    >>> [len(batch) for batch in iter_batches(path, batch_rows=2)]
    [2, 2, 1]
    """
    rows = _check_batch_rows(batch_rows)
    if sql is not None:
        from modelcycle.data._sql import iter_sql_batches

        return _numbered(iter_sql_batches(source, sql, rows))
    path = _existing_file(source)
    if file_format(path) == "csv":
        return _iter_csv(path, rows)
    return _iter_parquet(path, rows)


def read_columns(source: TableSource) -> list[str]:
    """The column names of a CSV or Parquet file, from its header and schema alone.

    Lets a caller refuse a misspelt column (``train --target``) in a moment, before it
    reads and checks the whole file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.tsv"
    >>> _ = path.write_text("a\\tb\\n1\\tx\\n")
    >>> read_columns(path)
    ['a', 'b']
    """
    path = _existing_file(source)
    kind = file_format(path)
    try:
        if kind == "csv":
            parse = pacsv.ParseOptions(delimiter=_delimiter(path))
            with pacsv.open_csv(path, parse_options=parse, convert_options=_CONVERT) as reader:
                return list(reader.schema.names)
        import pyarrow.dataset as pads  # it loads pandas

        return list(pads.dataset(path, format="parquet").schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise _unparseable(path, "CSV" if kind == "csv" else "Parquet", exc) from exc


def target_missing(target: str, source: str, columns: list[str]) -> ValidationError:
    """The error for a target not among ``columns`` of ``source`` (names 20 of them)."""
    shown = str(columns) if len(columns) <= 20 else f"{columns[:19]} and {len(columns) - 19} more"
    return ValidationError(
        f"target column {target!r} is not in {source}; its columns are {shown}",
        details={"field": "target", "value": target},
    )


def file_format(path: Path) -> FileFormat:
    """Return the format of ``path`` from its extension (a folder means Parquet files)."""
    if path.is_dir():
        return "parquet"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _DELIMITERS:
        return "csv"
    if suffix in _PARQUET and suffix == path.suffix.lower():
        return "parquet"
    raise ValidationError(
        f"file '{path}' has an unknown extension {''.join(path.suffixes)!r}; {_EXPECTED}",
        details={"file": str(path)},
    )


def _existing_file(source: TableSource) -> Path:
    if source is None:
        raise ValidationError(
            "no source given; expected a CSV or Parquet path, or sql= with a database "
            "URL (or sql= alone to query files with DuckDB)"
        )
    path = Path(source)
    if not path.exists():
        raise ValidationError(
            f"file '{path}' does not exist (working directory '{Path.cwd()}'); {_EXPECTED}",
            details={"file": str(path)},
        )
    return path


def _check_batch_rows(batch_rows: int) -> int:
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(f"batch_rows is {batch_rows!r}; expected a positive integer")
    return batch_rows


def _delimiter(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in _COMPRESSED]
    return _DELIMITERS[suffixes[-1]]


def _read_csv(path: Path) -> pd.DataFrame:
    parse = pacsv.ParseOptions(delimiter=_delimiter(path))
    try:
        table = pacsv.read_csv(path, parse_options=parse, convert_options=_CONVERT)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise _unparseable(path, "CSV", exc) from exc
        return _read_csv_with_pandas(path, parse.delimiter, exc)
    except OSError as exc:
        raise _unparseable(path, "CSV", exc) from exc
    return _checked(_to_pandas(table), path)


def _read_csv_with_pandas(path: Path, delimiter: str, cause: Exception) -> pd.DataFrame:
    """Parse with pandas' C reader, which widens a column's type instead of failing."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=delimiter, low_memory=False)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise _unparseable(path, "CSV", cause) from exc
    return _checked(frame, path)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unparseable(path, "Parquet", exc) from exc
    return _checked(_to_pandas(table), path)


def _iter_csv(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    parse = pacsv.ParseOptions(delimiter=_delimiter(path))
    try:
        reader = pacsv.open_csv(path, parse_options=parse, convert_options=_CONVERT)
    except (pa.ArrowException, OSError) as exc:
        raise _unparseable(path, "CSV", exc) from exc
    return _guarded(_frames(reader, batch_rows, path), path, "CSV")


def _iter_parquet(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    try:
        import pyarrow.dataset as pads

        dataset = pads.dataset(path, format="parquet")
        batches = dataset.to_batches(batch_size=batch_rows)
    except (pa.ArrowException, OSError) as exc:
        raise _unparseable(path, "Parquet", exc) from exc
    return _guarded(_frames(batches, batch_rows, path), path, "Parquet")


def _guarded(frames: Iterator[pd.DataFrame], path: Path, kind: str) -> Iterator[pd.DataFrame]:
    rows = 0
    try:
        for frame in frames:
            rows += len(frame)
            yield frame
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            f"file '{path}' could not be read past row {rows}: {exc}; {_LATE_FAILURE[kind]}",
            details={"file": str(path), "row": rows},
        ) from exc


_LATE_FAILURE = {
    "CSV": "expected every row to match the column types inferred from the start of the "
    "file (read it whole with read_table, which widens types, or convert it to Parquet)",
    "Parquet": "expected a complete Parquet file (it may be truncated or corrupted)",
}


def _frames(
    batches: Iterable[pa.RecordBatch], batch_rows: int, path: Path
) -> Iterator[pd.DataFrame]:
    import pandas as pd

    offset = 0
    for table in _rebatch(batches, batch_rows):
        frame = _checked(_to_pandas(table), path)
        if isinstance(frame.index, pd.RangeIndex):
            frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield frame


def _rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Regroup record batches of any size into tables of exactly ``rows`` rows."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def _numbered(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    offset = 0
    for frame in frames:
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield frame


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)


def _checked(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValidationError(
            f"file '{path}' has duplicated column names {duplicated}; expected unique names",
            details={"file": str(path), "columns": duplicated},
        )
    return frame


def _unparseable(path: Path, kind: str, exc: Exception) -> ValidationError:
    reason = str(exc).strip() or type(exc).__name__
    if "Empty CSV file" in reason:
        reason = "the file is empty"
    expected = "a valid CSV file with a header row" if kind == "CSV" else f"a valid {kind} file"
    return ValidationError(
        f"file '{path}' could not be read as {kind}: {reason}; expected {expected}",
        details={"file": str(path), "format": kind.lower()},
    )
