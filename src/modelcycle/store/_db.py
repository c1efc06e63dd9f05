"""The workspace database: engine set-up, transactions with retry, and upserts.

Thread-safety: a :class:`Database` may be shared by threads; every call takes its
own pooled connection. Write transactions on SQLite start with ``BEGIN IMMEDIATE``
so concurrent writers queue on the busy timeout instead of failing with
``database is locked`` when a read lock cannot be upgraded; on both backends a
transaction that still fails with a lock, serialization or deadlock error is
retried with backoff before any error reaches the caller.

On PostgreSQL a write may also announce itself (:meth:`Database.notify`, delivered at
commit) and a process may wait for such notices (:meth:`Database.listener`: one
dedicated connection doing ``LISTEN``), so several processes sharing a workspace learn
of a change at once instead of at their next poll; SQLite has no such channel.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from modelcycle.core import ValidationError, WorkspaceError, is_conninfo, redact_text, redact_url
from modelcycle.store._files import ensure_private_file, private_folder

T = TypeVar("T")
_LOG = logging.getLogger("modelcycle.store")

_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


_EXPECTED_URL = (
    "expected 'sqlite:///path/to/modelcycle.db', 'postgresql://user@host:5432/dbname' or a "
    "libpq string such as 'host=127.0.0.1 dbname=mc user=me'"
)
#: Query parameters that are moved out of the URL into the driver's arguments, so no
#: ``repr`` of the URL or engine can show them (``password`` goes to the URL's password slot).
_QUERY_SECRETS = ("sslpassword",)


def normalize_url(text: str) -> URL:
    """Parse a database URL or libpq connection string, accepting only supported backends.

    ``postgresql://`` and ``postgres://`` select the psycopg 3 driver; a libpq keyword
    string (``host=... dbname=... user=... password=...``) becomes the same URL. A
    ``?password=`` query parameter moves to the URL's password, which SQLAlchemy hides.
    Messages show the URL with every secret hidden (:func:`~modelcycle.core.redact_url`).

    Examples
    --------
    >>> normalize_url("postgres://u@127.0.0.1/test").drivername
    'postgresql+psycopg'
    >>> normalize_url("host=127.0.0.1 dbname=test user=u password=pw")
    postgresql+psycopg://u:***@127.0.0.1/test
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"workspace database URL {text!r} is empty; {_EXPECTED_URL}")
    url = _conninfo_url(text) if is_conninfo(text) else _parse_url(text)
    backend, _, driver = url.drivername.partition("+")
    if backend not in _SCHEMES:
        raise ValidationError(
            f"workspace database URL scheme {url.drivername!r} (in {_safe(url)!r}) is not "
            "supported; expected 'sqlite' or 'postgresql'"
        )
    if backend in ("postgresql", "postgres") and driver not in ("", "psycopg"):
        raise ValidationError(
            f"PostgreSQL driver {driver!r} is not supported; use 'postgresql://' "
            "(modelcycle uses psycopg 3)"
        )
    url = url.set(drivername=_SCHEMES[backend])
    if "password" in url.query:
        url = _password_from_query(url)
    return url


def _parse_url(text: str) -> URL:
    _, separator, rest = text.partition("://")
    if separator and rest.count("@") > 1 and ":" in rest[: rest.rfind("@")]:
        raise ValidationError(
            f"workspace database URL {redact_url(text)!r} has more than one '@': a user or "
            "password holding '@', ':' or '/' must be percent-encoded ('@' is %40, ':' is %3A, "
            "'/' is %2F), or pass a libpq string (host=... password='...')"
        )
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        raise ValidationError(  # not 'from': the parser's own message may quote the URL
            f"workspace database URL {redact_url(text)!r} cannot be parsed; {_EXPECTED_URL}"
        ) from None


def _conninfo_url(text: str) -> URL:
    """The ``postgresql+psycopg`` URL of a libpq keyword string (parsed by libpq itself)."""
    from psycopg import conninfo  # the PostgreSQL driver: load on use

    try:
        parts = conninfo.conninfo_to_dict(text)
    except Exception:
        # libpq's message quotes the string around the fault, which may be a password.
        raise ValidationError(
            "workspace database libpq connection string cannot be parsed (its text is not "
            "shown: it may hold a password); expected 'key=value' pairs separated by spaces, "
            "values with spaces in single quotes, e.g. host=127.0.0.1 dbname=mc password='a b'"
        ) from None
    values = {key: str(value) for key, value in parts.items() if value is not None}
    host = values.pop("host", None)
    if host is not None and (host.startswith("/") or "," in host):
        values["host"], host = host, None  # a socket folder or several hosts: psycopg reads them
    port = values.pop("port", None)
    if port is not None and not port.isdigit():
        raise ValidationError(f"workspace database port {port!r} is not a number")
    return URL.create(
        "postgresql+psycopg",
        username=values.pop("user", None),
        password=values.pop("password", None),
        host=host,
        port=int(port) if port is not None else None,
        database=values.pop("dbname", None),
        query=values,
    )


def _password_from_query(url: URL) -> URL:
    """Move ``?password=`` into the password slot (SQLAlchemy hides it; psycopg takes it)."""
    value = url.query["password"]
    password = value[-1] if isinstance(value, tuple) else value
    if url.password is not None and url.password != password:
        raise ValidationError(
            f"workspace database URL {_safe(url)!r} gives two different passwords (in the "
            "user part and as ?password=); give one"
        )
    return url.difference_update_query(["password"]).set(password=password)


def _split_secrets(url: URL) -> tuple[URL, dict[str, str]]:
    """``url`` without secret query parameters, and those parameters (for ``connect_args``)."""
    secrets = {}
    for name in _QUERY_SECRETS:
        if name in url.query:
            value = url.query[name]
            secrets[name] = value[-1] if isinstance(value, tuple) else value
    return url.difference_update_query(list(secrets)), secrets


def _safe(url: URL) -> str:
    return redact_url(url.render_as_string(hide_password=True))


class Database:
    """A connection to the workspace database.

    Parameters
    ----------
    url:
        A SQLAlchemy URL; only SQLite and PostgreSQL are accepted.
    busy_timeout_s:
        How long a SQLite writer waits for the write lock before retrying.

    Raises
    ------
    ValidationError
        The URL has an unsupported scheme or cannot be parsed.
    WorkspaceError
        The folder of a SQLite file cannot be created, or the server cannot be reached.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 60.0) -> None:
        self.url, self._secrets = _split_secrets(normalize_url(url))
        self.busy_timeout_s = busy_timeout_s
        self.engine = self._create_engine()
        _protect_pool_across_fork(self.engine)
        self.check_connection()

    @property
    def dialect(self) -> str:
        """``'sqlite'`` or ``'postgresql'``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """The URL with every secret hidden, for messages."""
        return _safe(self.url)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    @property
    def connect_args(self) -> dict[str, Any]:
        """What the driver is given besides the URL: for PostgreSQL the connect timeout
        and the secret query parameters kept out of :attr:`url` (``sslpassword``), so
        another engine on the same database (Optuna's) connects as this one does."""
        if self.url.drivername == "sqlite":
            return {"timeout": self.busy_timeout_s, "check_same_thread": False}
        return {"connect_timeout": 10, **self._secrets}

    def _create_engine(self) -> Engine:
        if self.url.drivername == "sqlite":
            return self._create_sqlite_engine()
        engine = sa.create_engine(
            self.url,
            pool_pre_ping=True,
            pool_size=5,
            connect_args=self.connect_args,
        )
        return engine

    def _create_sqlite_engine(self) -> Engine:
        database = self.url.database
        if not database or database == ":memory:":
            raise ValidationError(
                f"workspace database {self.display_url!r} is in memory; a workspace needs a "
                "file, e.g. 'sqlite:///path/to/modelcycle.db'"
            )
        path = Path(database).expanduser().resolve()
        ensure_folder(path.parent, what="workspace database folder")
        # SQLite gives the -wal and -shm files the mode of the database file: create it private.
        ensure_private_file(path)
        engine = sa.create_engine(
            self.url,
            connect_args=self.connect_args,
        )
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from pysqlite so BEGIN IMMEDIATE is possible.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            _ensure_wal(cursor, deadline=time.monotonic() + self.busy_timeout_s)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            immediate = connection.get_execution_options().get("modelcycle_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def check_connection(self) -> None:
        """Open and close one connection, turning failures into a clear :class:`WorkspaceError`."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            reason = self._scrub(reason)
            raise WorkspaceError(
                f"cannot connect to workspace database {self.display_url!r}: {reason}; "
                "check that the server is running and the URL, user and database are right"
            ) from exc

    def _scrub(self, text: str) -> str:
        """``text`` with any secret of this database's URL replaced by ``***``."""
        for secret in (self.url.password, *self._secrets.values()):
            if secret:
                text = text.replace(str(secret), "***")
        return text

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection in a read transaction."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def transaction(self, work: Callable[[Connection], T], *, attempts: int = 12) -> T:
        """Run ``work(connection)`` in one write transaction, retrying transient conflicts.

        ``work`` must be safe to run again: it is retried from the start when the
        database reports a lock timeout, a serialization failure or a deadlock.
        """
        delay = 0.01
        for attempt in range(1, attempts + 1):
            try:
                with self.engine.connect() as connection:
                    connection = connection.execution_options(modelcycle_write=True)
                    with connection.begin():
                        return work(connection)
            except DBAPIError as exc:
                if attempt == attempts or not self._is_transient(exc):
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _is_transient(self, exc: DBAPIError) -> bool:
        if self.dialect == "sqlite":
            text = str(exc.orig).lower()
            return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return sqlstate in _RETRYABLE_SQLSTATES

    def insert(self, table: sa.Table) -> Any:
        """Return the dialect's INSERT construct (it has ``on_conflict_do_*``)."""
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def insert_ignore(
        self, connection: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert rows, skipping those whose primary key already exists."""
        if rows:
            connection.execute(self.insert(table).on_conflict_do_nothing(), list(rows))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @staticmethod
    def notify(connection: Connection, channel: str, payload: str = "") -> None:
        """Announce a change on ``channel`` when ``connection``'s transaction commits.

        PostgreSQL's ``NOTIFY`` (sent only if the transaction commits); nothing on SQLite,
        whose readers poll.
        """
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_notify(channel, payload)))

    def listener(self, channel: str) -> Listener | None:
        """A waiter for the notices of ``channel`` (PostgreSQL); ``None`` on SQLite."""
        return Listener(self.engine, channel) if self.dialect == "postgresql" else None


class Listener:
    """Waits for PostgreSQL notices on one channel over its own connection.

    :meth:`wait` returns ``True`` as soon as a notice arrives (or one arrived since the
    last call), ``False`` after ``timeout_s`` without one. A lost connection is opened
    again on the next call; notices sent meanwhile are lost, so a caller keeps polling
    at its interval and treats a notice as "look now". Thread-safety: one thread waits;
    :meth:`close` may come from any thread and takes effect within half a second.
    """

    _SLICE_S = 0.5

    def __init__(self, engine: Engine, channel: str) -> None:
        self._engine = engine
        self._channel = channel
        self._connection: Any = None
        self._closed = threading.Event()
        self._waiting = threading.Lock()

    def _open(self) -> Any:
        raw = self._engine.raw_connection()
        connection = raw.driver_connection
        raw.detach()  # this connection stays out of the pool: it is listening
        if connection is None:  # pragma: no cover - the pool always hands one out
            raise RuntimeError("the pool gave no driver connection")
        connection.rollback()
        connection.autocommit = True
        connection.execute(f'LISTEN "{self._channel}"')
        return connection

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds for a notice; True if one came."""
        with self._waiting:
            return self._wait(timeout_s)

    def _wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._closed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self._connection is None:
                    self._connection = self._open()
                notices = self._connection.notifies(timeout=min(left, self._SLICE_S), stop_after=1)
                if next(iter(notices), None) is not None:
                    return True
            except Exception as exc:  # the server went away: poll until it is back
                reason = redact_text(f"{type(exc).__name__}: {exc}")
                _LOG.warning("listening for %s failed: %s", self._channel, reason)
                self._drop()
                self._closed.wait(min(max(left, 0), self._SLICE_S * 4))
        self._drop()
        return False

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):  # closing a broken connection may fail too
                connection.close()

    def close(self) -> None:
        """Stop waiting; the connection is closed by the waiting thread (or now, if none)."""
        self._closed.set()
        if self._waiting.acquire(blocking=False):
            try:
                self._drop()
            finally:
                self._waiting.release()


def _protect_pool_across_fork(engine: Engine) -> None:
    """Make a forked child open its own connections instead of sharing the parent's."""

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa.exc.DisconnectionError("connection was opened by another process")


def ensure_folder(folder: Path, *, what: str) -> Path:
    """Create ``folder`` (and parents, mode 0700) or raise a :class:`WorkspaceError` saying why."""
    try:
        private_folder(folder)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create {what} {str(folder)!r}: {exc.strerror or exc}; choose a writable "
            "folder with --workspace or MODELCYCLE_HOME"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise WorkspaceError(
            f"{what} {str(folder)!r} is not writable; choose a writable folder with "
            "--workspace or MODELCYCLE_HOME"
        )
    return folder


def _ensure_wal(cursor: Any, *, deadline: float) -> None:
    """Put the SQLite file in WAL mode (stored in the file, so usually already done).

    Switching needs an exclusive lock, and reading the mode can meet another process
    recovering the write-ahead log; SQLite may answer "database is locked" there even
    with a busy timeout set (it skips the wait where waiting could deadlock). Seen with
    eight processes opening one workspace. So the mode is read first (a WAL file needs
    no switch), and a read or switch refused as locked is retried until ``deadline``.
    """
    while True:
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
