"""SQL sources: a SQLAlchemy database URL, a DuckDB or SQLite file, or DuckDB over files.

Which engine runs a query follows from the source alone:

- ``None``: an in-memory DuckDB, so ``select * from 'data/*.parquet'`` reads files;
- a ``.duckdb``/``.ddb`` file: DuckDB, opened read-only;
- a ``.db``/``.sqlite``/``.sqlite3`` file: SQLite through SQLAlchemy;
- anything containing ``://``: a SQLAlchemy URL (``sqlite:///x.db``, ``postgresql://...``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from modelcycle.core import ValidationError, redact_url

if TYPE_CHECKING:
    import duckdb

_DUCKDB_FILES = {".duckdb", ".ddb"}
_SQLITE_FILES = {".db", ".sqlite", ".sqlite3"}
_EXPECTED = (
    "expected a SQLAlchemy URL such as 'sqlite:///path.db', a .duckdb or .sqlite file, "
    "or None to query files with DuckDB"
)


def read_sql(source: str | os.PathLike[str] | None, sql: str) -> pd.DataFrame:
    """Run ``sql`` against ``source`` and return the whole result."""
    _check_query(sql)
    if _is_duckdb(source):
        with _duckdb_relation(source, sql) as relation:
            return relation.df()
    url = _sqlalchemy_url(source)
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return pd.read_sql_query(sa.text(sql), connection)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        raise _query_failed(url, sql, exc) from exc
    finally:
        engine.dispose()


def iter_sql_batches(
    source: str | os.PathLike[str] | None, sql: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    """Check ``source`` and ``sql`` now; return an iterator over result batches.

    DuckDB batches share the result's column types. SQLAlchemy batches are typed one
    by one by pandas, so a column that is all-NULL in one batch may differ in dtype.
    """
    _check_query(sql)
    if _is_duckdb(source):
        return _iter_duckdb(source, sql, batch_rows)
    url = _sqlalchemy_url(source)
    return _iter_sqlalchemy(url, sql, batch_rows)


def _iter_duckdb(
    source: str | os.PathLike[str] | None, sql: str, batch_rows: int
) -> Iterator[pd.DataFrame]:
    with _duckdb_relation(source, sql) as relation:
        reader = relation.to_arrow_reader(batch_rows)
        for batch in reader:
            if batch.num_rows:
                yield batch.to_pandas(date_as_object=False)


def _iter_sqlalchemy(url: str, sql: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            streaming = connection.execution_options(stream_results=True)
            yield from pd.read_sql_query(sa.text(sql), streaming, chunksize=batch_rows)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        raise _query_failed(url, sql, exc) from exc
    finally:
        engine.dispose()


def _check_query(sql: str) -> None:
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError(f"sql is {sql!r}; expected a non-empty query string")


def _is_duckdb(source: str | os.PathLike[str] | None) -> bool:
    if source is None:
        return True
    return "://" not in str(source) and Path(source).suffix.lower() in _DUCKDB_FILES


@contextmanager
def _duckdb_relation(
    source: str | os.PathLike[str] | None, sql: str
) -> Iterator[duckdb.DuckDBPyRelation]:
    import duckdb  # imported on use: most workspaces never query with DuckDB

    where = "DuckDB (in memory)" if source is None else f"DuckDB file '{source}'"
    if source is not None and not Path(source).is_file():
        raise ValidationError(
            f"database file '{source}' does not exist; {_EXPECTED}",
            details={"file": str(source)},
        )
    try:
        database = ":memory:" if source is None else str(source)
        connection = duckdb.connect(database, read_only=source is not None)
    except duckdb.Error as exc:
        raise ValidationError(f"{where} could not be opened: {exc}") from exc
    try:
        relation = connection.sql(sql)
        if relation is None:
            raise ValidationError(f"query {_short(sql)} on {where} returned no table; {_SELECT}")
        yield relation
    except duckdb.Error as exc:
        raise ValidationError(
            f"query {_short(sql)} failed on {where}: {exc}",
            details={"sql": sql, "database": where},
        ) from exc
    finally:
        connection.close()


_SELECT = "expected a query returning rows (select ...)"


def _sqlalchemy_url(source: str | os.PathLike[str] | None) -> str:
    text = str(source)
    if "://" in text:
        _check_sqlite_file(text)
        return text
    path = Path(text)
    if path.suffix.lower() not in _SQLITE_FILES:
        raise ValidationError(
            f"source '{text}' is not a database for sql=; {_EXPECTED}",
            details={"source": text},
        )
    if not path.is_file():
        raise ValidationError(
            f"database file '{text}' does not exist; {_EXPECTED}", details={"file": text}
        )
    return f"sqlite:///{path.resolve()}"


def _check_sqlite_file(url: str) -> None:
    """Refuse a ``sqlite:///`` URL to a missing file, which SQLite would silently create."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # not chained: the parser's message may quote the URL
        raise ValidationError(f"database URL {_masked(url)} is not valid; {_EXPECTED}") from None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if not database.startswith("file:") and not Path(database).is_file():
        raise ValidationError(
            f"database file '{database}' (from URL {_masked(url)}) does not exist; {_EXPECTED}",
            details={"file": database},
        )


def _engine(url: str) -> Engine:
    try:
        return sa.create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ValidationError(
            f"database URL {_masked(url)} cannot be used: {exc}; {_EXPECTED}",
            details={"url": _masked(url)},
        ) from exc


def _query_failed(url: str, sql: str, exc: Exception) -> ValidationError:
    cause: BaseException = exc
    while cause.__cause__ is not None and not hasattr(cause, "orig"):
        cause = cause.__cause__
    reason = str(getattr(cause, "orig", None) or cause).splitlines()[0]
    return ValidationError(
        f"query {_short(sql)} failed on database {_masked(url)}: {reason}",
        details={"sql": sql, "url": _masked(url)},
    )


def _masked(url: str) -> str:
    """Return ``url`` quoted, every secret (password, ``?password=``...) shown as ``***``."""
    return repr(redact_url(url))


def _short(sql: str) -> str:
    flat = " ".join(sql.split())
    return repr(flat if len(flat) <= 80 else flat[:77] + "...")
