"""The SQL the log readers share: connections, filters, the segments as one relation, decoding.

Queries are built as text with ``?`` parameters for every value that comes from a
caller; identifiers and the ``from_json`` type spec are quoted here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from modelcycle.core import Task, ValidationError
from modelcycle.packaging import Signature
from modelcycle.store import PREDICTION_SCHEMA, segment_glob

#: Columns of :func:`read_predictions` before the decoded inputs.
PREDICTION_COLUMNS = (
    "request_id",
    "row",
    "time",
    "version",
    "route",
    "latency_ms",
    "prediction",
    "probabilities",
    "error",
)
#: A time bound: a datetime (or pandas Timestamp), ISO 8601 text or epoch milliseconds.
TimeLike: TypeAlias = datetime | str | int

_INPUT_TYPES = {"double": "DOUBLE", "long": "DOUBLE", "boolean": "BOOLEAN"}
_NUMBERS = {"BIGINT", "UBIGINT", "DOUBLE"}
_SQL_TYPES = {
    "string": "VARCHAR",
    "timestamp[ms, tz=UTC]": "TIMESTAMPTZ",
    "int64": "BIGINT",
    "int32": "INTEGER",
    "double": "DOUBLE",
    "list<item: double>": "DOUBLE[]",
}
#: Most memory a query's DuckDB holds before spilling (never over half the machine's).
_MEMORY_LIMIT_MB = 3 * 1024
_TIME = pa.timestamp("ms", tz="UTC")
_RESERVED = {"inputs", "model", "__inputs"}


@dataclass(frozen=True)
class Filters:
    """Row filters of a log query, as SQL text and its parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        """Add one ``AND`` condition with its ``?`` parameters."""
        self.clauses.append(clause)
        self.params.extend(params)

    @property
    def where(self) -> str:
        """The ``WHERE`` clause (empty when no filter)."""
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


@dataclass(frozen=True)
class Share:
    """The threads and memory a DuckDB connection may use (a cluster task's share)."""

    threads: int
    memory_mb: int


_SHARE: ContextVar[Share | None] = ContextVar("modelcycle_duckdb_share", default=None)


@contextmanager
def sharing(share: Share) -> Iterator[None]:
    """Connections opened in this block (this thread or task) keep within ``share``.

    Without it DuckDB runs a thread per core: a cluster task on a worker beside others
    would then compete with them for every core (the Dask convention, which its nanny
    applies to OpenMP and BLAS, is a core per task thread).
    """
    token = _SHARE.set(share)
    try:
        yield
    finally:
        _SHARE.reset(token)


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB connection, spilling to a temporary folder beyond its memory.

    DuckDB's default limit (80% of RAM) lets a 10-million-row read hold gigabytes of
    buffers beside its result; a few GiB and spilling is as fast and peaks far lower.
    Inside :func:`sharing`, the connection keeps to that share of threads and memory.
    """
    share = _SHARE.get()
    memory_mb = _memory_limit_mb() if share is None else min(_memory_limit_mb(), share.memory_mb)
    config: dict[str, Any] = {"memory_limit": f"{memory_mb}MB"}
    if share is not None:
        config["threads"] = share.threads
    with tempfile.TemporaryDirectory(prefix="modelcycle-duckdb-") as spill:
        connection = duckdb.connect(config={**config, "temp_directory": spill})
        try:
            yield connection
        finally:
            connection.close()


def has_segments(folder: Path) -> bool:
    """Whether ``folder`` holds at least one finished segment."""
    return folder.is_dir() and next(folder.rglob("*.parquet"), None) is not None


def base_relation(
    connection: duckdb.DuckDBPyConnection,
    segments: Path | Sequence[str],
    schema: pa.Schema = PREDICTION_SCHEMA,
) -> str:
    """A subquery giving every column of ``schema`` (missing ones as NULL) from the segments.

    ``segments`` is a log folder (every segment under it) or a list of segment files.
    Older segments may lack newer columns (``union_by_name``); a column absent from all
    of them is filled with NULL; a missing ``route`` means ``primary`` (logs from before
    routes existed) and a missing ``row`` means 0.
    """
    if isinstance(segments, Path):
        where = _literal(segment_glob(segments))
    else:
        where = "[" + ", ".join(_literal(str(path)) for path in segments) + "]"
    files = f"read_parquet({where}, union_by_name=true)"
    present = {row[0] for row in connection.sql(f"DESCRIBE SELECT * FROM {files}").fetchall()}
    columns = []
    for name in schema.names:
        quoted = identifier(name)
        value = quoted if name in present else "NULL"
        if name == "route":
            value = f"coalesce({value}, 'primary')"
        elif name == "row":
            value = f"coalesce({value}, 0)"
        elif name not in present:
            value = f"CAST(NULL AS {_SQL_TYPES[str(schema.field(name).type)]})"
        columns.append(f"{value} AS {quoted}")
    return f"(SELECT {', '.join(columns)} FROM {files})"


def add_window(
    filters: Filters,
    *,
    versions: Iterable[int] | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    prefix: str = "",
) -> None:
    """Add the version and time filters shared by the readers."""
    if versions is not None:
        chosen = sorted({_version(v) for v in versions})
        if not chosen:
            filters.add("FALSE")
        else:
            filters.add(f"{prefix}version IN ({placeholders(chosen)})", *chosen)
    if since is not None:
        filters.add(f"{prefix}time >= ?", as_time(since, "since"))
    if until is not None:
        filters.add(f"{prefix}time < ?", as_time(until, "until"))


def add_cutoff(
    connection: duckdb.DuckDBPyConnection, source: str, filters: Filters, last_rows: int
) -> None:
    """Narrow the filters to the latest ``last_rows`` rows (ties broken by request and row).

    The boundary row is found by a top-N over three narrow columns, so the wide
    ``inputs`` column is only read for the rows kept.
    """
    boundary = connection.sql(
        f'SELECT time, request_id, "row" FROM {source} {filters.where} '
        f'ORDER BY time DESC, request_id DESC, "row" DESC LIMIT 1 OFFSET {last_rows - 1}',
        params=filters.params,
    ).fetchall()
    if not boundary:
        return  # fewer rows than asked for: keep them all
    cutoff_clause(filters, *boundary[0])


def cutoff_clause(filters: Filters, time: datetime, request_id: str | None, row: int) -> None:
    """Keep the rows at or after the key ``(time, request_id, row)`` (the latest-rows order)."""
    filters.add(
        '(time > ? OR (time = ? AND (request_id > ? OR (request_id = ? AND "row" >= ?))))',
        time,
        time,
        request_id,
        request_id,
        row,
    )


def add_sample(
    connection: duckdb.DuckDBPyConnection, source: str, filters: Filters, size: int, seed: int
) -> None:
    """Narrow the filters to ``size`` rows chosen by a seeded hash (a uniform, repeatable sample).

    The hash threshold comes from a top-N over one narrow column: cheaper than DuckDB's
    reservoir sample, which copies whole rows, wide ``inputs`` text included.
    """
    key = sample_key(seed)
    found = connection.sql(
        f"SELECT {key} AS h FROM {source} {filters.where} ORDER BY h LIMIT 1 OFFSET {size - 1}",
        params=filters.params,
    ).fetchall()
    if found:  # else the window has fewer rows: keep them all
        filters.add(f"{key} <= CAST({int(found[0][0])} AS UBIGINT)")


def sample_key(seed: int) -> str:
    """SQL of a row's seeded sample hash (a UBIGINT, the same in every process)."""
    return f'hash(request_id, "row", {int(seed)})'


# -- private ----------------------------------------------------------------------------


def input_types(signature: Signature | None) -> dict[str, str]:
    """DuckDB type of each signature input in the logged JSON."""
    if signature is None:
        return {}
    return {
        spec.name: "VARCHAR" if spec.sensitive else _INPUT_TYPES.get(spec.type, "VARCHAR")
        for spec in signature.inputs
    }


def decode_inputs(picked: str, specs: dict[str, str]) -> str:
    """Wrap ``picked`` so each row also carries ``__inputs``, the decoded inputs struct."""
    if not specs:
        return picked
    spec = _literal(json.dumps(specs))
    return f"SELECT *, from_json(inputs, {spec}) AS __inputs FROM ({picked})"


def output_columns(specs: dict[str, str], prediction: str) -> str:
    """The select list of :data:`PREDICTION_COLUMNS` and the decoded inputs."""
    columns = [
        "request_id",
        '"row"',
        "time",
        "version",
        "route",
        "latency_ms",
        f"{json_value('prediction', prediction)} AS prediction",
        "probabilities",
        "error",
    ]
    for name in specs:
        alias = f"inputs.{name}" if name in PREDICTION_COLUMNS or name in _RESERVED else name
        columns.append(f"__inputs.{identifier(name)} AS {identifier(alias)}")
    return ", ".join(columns)


def json_value(column: str, kind: str) -> str:
    """SQL decoding JSON text ``column`` as ``kind`` (a DuckDB type name)."""
    text = f"({column} ->> '$')"
    return text if kind == "VARCHAR" else f"TRY_CAST({text} AS {kind})"


def prediction_kind(signature: Signature | None) -> str | None:
    """The DuckDB type of logged predictions as the signature says (``None``: unknown)."""
    if signature is None:
        return None
    if signature.task is Task.REGRESSION:
        return "DOUBLE"
    return values_kind(signature.classes) if signature.classes else None


def values_kind(values: Sequence[Any]) -> str:
    """The DuckDB type holding every one of ``values`` (class labels)."""
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "BOOLEAN"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return "BIGINT"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return "DOUBLE"
    return "VARCHAR"


def probe_kind(connection: duckdb.DuckDBPyConnection, query: str, params: list[Any]) -> str:
    """The DuckDB type of JSON column ``value`` of ``query``, from the JSON types present."""
    rows = connection.sql(
        f"SELECT DISTINCT json_type(value) FROM ({query}) WHERE value IS NOT NULL", params=params
    ).fetchall()
    return kind_of_types({str(row[0]) for row in rows})


def kind_of_types(types: set[str]) -> str:
    """The DuckDB type holding JSON values of these ``json_type`` names."""
    found = types - {"NULL"}
    if found and found <= {"BIGINT", "UBIGINT"}:
        return "BIGINT"
    if found and found <= _NUMBERS:
        return "DOUBLE"
    if found == {"BOOLEAN"}:
        return "BOOLEAN"
    return "VARCHAR"


def to_frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """A DuckDB result as pandas (lists as Arrow-backed columns: compact and fast)."""
    return arrow_frame(arrow_table(relation))


def arrow_table(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """A DuckDB result as an Arrow table (``to_arrow_table`` where this DuckDB has it)."""
    if hasattr(relation, "to_arrow_table"):
        return relation.to_arrow_table()
    return relation.arrow()


def arrow_frame(table: pa.Table) -> pd.DataFrame:
    """:func:`to_frame` of a DuckDB result already in Arrow."""
    times = [i for i, kind in enumerate(table.schema.types) if pa.types.is_timestamp(kind)]
    for i in times:  # DuckDB gives microseconds in "Etc/UTC"; the log has milliseconds in UTC
        table = table.set_column(i, table.field(i).name, table.column(i).cast(_TIME))
    # Column by column, freeing Arrow's copy as pandas takes it: a lower peak for big windows.
    return table.to_pandas(types_mapper=_list_dtype, self_destruct=True, split_blocks=True)


def as_time(value: TimeLike, what: str) -> datetime:
    """A timezone-aware UTC datetime from a datetime, ISO text or epoch milliseconds."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise ValidationError(
            f"{what}={value!r} is not a time; expected a datetime, ISO 8601 text "
            "('2025-01-31T12:00Z') or milliseconds since the epoch"
        )
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()  # type: ignore[no-any-return]


def positive(value: int, what: str) -> int:
    """``value`` as an int, refused unless a positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(f"{what}={value!r} must be a positive whole number of rows")
    return int(value)


# -- private ----------------------------------------------------------------------------


def _memory_limit_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):  # not POSIX: the machine's size is unknown
        return _MEMORY_LIMIT_MB
    return max(256, min(_MEMORY_LIMIT_MB, total // 2))


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError(f"version {value!r} is not a version number; expected an integer")
    return int(value)


def placeholders(values: Sequence[Any]) -> str:
    """One ``?`` per value, comma-separated."""
    return ", ".join("?" for _ in values)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` quoted as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _list_dtype(kind: pa.DataType) -> Any:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pd.ArrowDtype(kind)
    return None
