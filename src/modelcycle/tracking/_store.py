"""SQL for tracking: experiments, runs and what they log.

Thread-safety: a :class:`TrackingStore` may be shared by threads. Returned rows
are plain dicts the caller owns. Methods raise :class:`~modelcycle.core.NotFound`
for unknown runs or experiments; a param keeps its first
stored value.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import NotFound, ms_to_datetime, now_ms
from modelcycle.data import DatasetFingerprint
from modelcycle.security._audit import append
from modelcycle.security._roles import default_actor
from modelcycle.store import Database, tables
from modelcycle.tracking._filter import (
    Field,
    compile_filter,
    logged_table,
    order_fields,
    parse_filter,
    parse_order_by,
    sort_key,
    value_column,
)
from modelcycle.tracking._status import RunStatus
from modelcycle.tracking._window import first_matches, windowed
from modelcycle.tracking._writer import MetricRecord, ParamRecord, Record

#: A run from a modelcycle without heartbeats (``heartbeat_at`` empty) is presumed dead
#: only after this long since its last sign of life (its last metric, else its start):
#: such a process may still be running a long training while its workspace is upgraded.
LEGACY_RUN_TIMEOUT_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Logged:
    """``{run_id: {key: value}}`` of params, latest metrics and tags of some runs."""

    params: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    tags: dict[str, dict[str, Any]]


_CHUNK = 500


class TrackingStore:
    """Reads and writes tracking tables through one :class:`~modelcycle.store.Database`.

    With ``silence_timeout_ms``, every read of runs (:meth:`run_rows`, :meth:`search`)
    first ends as ``KILLED`` the runs silent for longer (:meth:`end_silent_runs`), in the
    same read transaction when none is (the usual case: one indexed lookup more);
    ``alive`` names the runs open in this process, never ended.
    """

    def __init__(
        self,
        db: Database,
        *,
        silence_timeout_ms: int | None = None,
        alive: Callable[[], Iterable[str]] = frozenset,
    ) -> None:
        self.db = db
        self.silence_timeout_ms = silence_timeout_ms
        self._alive = alive

    # -- experiments -------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> int:
        """Return the id of experiment ``name``, creating it if needed (race-safe)."""
        found = self._experiment_id(name)
        if found is not None:
            return found

        def work(connection: Connection) -> None:
            row = {"name": name, "created_at": now_ms()}
            self.db.insert_ignore(connection, tables.experiments, [row])

        self.db.transaction(work)
        found = self._experiment_id(name)
        assert found is not None
        return found

    def _experiment_id(self, name: str) -> int | None:
        query = sa.select(tables.experiments.c.experiment_id).where(
            tables.experiments.c.name == name
        )
        with self.db.read() as connection:
            value = connection.execute(query).scalar()
        return int(value) if value is not None else None

    def list_experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its run count and last run start, newest first."""
        e, r = tables.experiments, tables.runs
        query = (
            sa.select(
                e.c.experiment_id,
                e.c.name,
                e.c.created_at,
                sa.func.count(r.c.run_id).label("runs"),
                sa.func.max(r.c.start_time).label("last_run"),
            )
            .select_from(e.outerjoin(r, r.c.experiment_id == e.c.experiment_id))
            .group_by(e.c.experiment_id, e.c.name, e.c.created_at)
            .order_by(e.c.created_at.desc(), e.c.experiment_id.desc())
        )
        with self.db.read() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def experiment_names(self) -> list[str]:
        """Every experiment's name, newest first (no run is read)."""
        e = tables.experiments
        query = sa.select(e.c.name).order_by(e.c.created_at.desc(), e.c.experiment_id.desc())
        with self.db.read() as connection:
            return [row[0] for row in connection.execute(query)]

    # -- runs ----------------------------------------------------------------------

    def create_run(self, row: dict[str, Any], *, actor: str | None = None) -> None:
        """Insert a new run row (status RUNNING) and its audit event, in one transaction."""
        parent = row.get("parent_run_id")
        if parent is not None:
            self.get_run_row(parent)
        after = {k: row[k] for k in ("name", "experiment_id", "parent_run_id") if k in row}

        def work(connection: Connection) -> None:
            connection.execute(tables.runs.insert(), row)
            append(
                connection,
                actor=actor or row.get("user_name") or default_actor(),
                action="run.create",
                target=f"run:{row['run_id']}",
                after=after,
            )

        self.db.transaction(work)

    def beat(self, run_ids: Sequence[str]) -> None:
        """Record that the process owning these (still ``RUNNING``) runs is alive now."""
        runs = tables.runs
        update = (
            runs.update()
            .where(runs.c.run_id.in_(list(run_ids)), runs.c.status == RunStatus.RUNNING)
            .values(heartbeat_at=now_ms())
        )
        self.db.transaction(lambda connection: connection.execute(update))

    def end_silent_runs(self, *, timeout_ms: int, alive: Iterable[str] = ()) -> list[str]:
        """End as ``KILLED`` every ``RUNNING`` run silent for more than ``timeout_ms``.

        A run's end time is its last heartbeat. A run without any (from a modelcycle
        before heartbeats) is ended only :data:`LEGACY_RUN_TIMEOUT_MS` after its last
        metric or its start. Runs in ``alive`` (open in this process) are left alone.
        A run that beats between the check and the update is left alone too. Cheap when
        nothing is silent: one read, no write. Returns the ids of the runs ended.
        """
        with self.db.read() as connection:
            silent = _silent_runs(connection, timeout_ms, set(alive))
        return self._kill(silent, timeout_ms)

    def _kill(self, silent: list[tuple[str, int | None]], timeout_ms: int) -> list[str]:
        if not silent:
            return []

        def work(connection: Connection) -> list[str]:
            return [
                run_id
                for run_id, heartbeat in silent
                if connection.execute(_kill(run_id, heartbeat, timeout_ms)).rowcount
            ]

        return self.db.transaction(work)

    @contextlib.contextmanager
    def _read_runs(self) -> Iterator[Connection]:
        """A read transaction in which no run is ``RUNNING`` past the silence timeout."""
        timeout_ms = self.silence_timeout_ms
        with self.db.read() as connection:
            silent = (
                []
                if timeout_ms is None
                else _silent_runs(connection, timeout_ms, set(self._alive()))
            )
            if not silent:
                yield connection
                return
        assert timeout_ms is not None
        self._kill(silent, timeout_ms)
        with self.db.read() as connection:
            yield connection

    def end_run(
        self, run_id: str, status: str, error: str | None, end_ms: int | None = None
    ) -> None:
        """Mark a run ended with ``status`` at ``end_ms`` (default: now)."""
        update = (
            tables.runs.update()
            .where(tables.runs.c.run_id == run_id)
            .values(status=status, end_time=end_ms if end_ms is not None else now_ms(), error=error)
        )
        self.db.transaction(lambda connection: connection.execute(update))

    def update_run(self, run_id: str, values: dict[str, Any]) -> None:
        """Set columns of a run's row (``status``, ``end_time``, ``name``...)."""
        update = tables.runs.update().where(tables.runs.c.run_id == run_id).values(**values)
        self.db.transaction(lambda connection: connection.execute(update))

    def get_run_row(self, run_id: str) -> dict[str, Any]:
        """The run's own row, joined with its experiment name."""
        rows = self.run_rows([run_id])
        if not rows:
            raise NotFound(
                f"run {run_id!r} does not exist in this workspace; list runs with "
                "'modelcycle runs list'"
            )
        return rows[0]

    def run_rows(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Rows for these run ids (unknown ids are skipped), in the given order."""
        found: dict[str, dict[str, Any]] = {}
        with self._read_runs() as connection:
            for chunk in _chunks(run_ids):
                query = _runs_select().where(tables.runs.c.run_id.in_(chunk))
                for row in connection.execute(query):
                    found[row.run_id] = dict(row._mapping)
        return [found[i] for i in run_ids if i in found]

    def run_ids_with_prefix(self, prefix: str, *, limit: int = 2) -> list[str]:
        """Up to ``limit`` run ids starting with ``prefix``."""
        query = (
            sa.select(tables.runs.c.run_id)
            .where(tables.runs.c.run_id.startswith(prefix, autoescape=True))
            .order_by(tables.runs.c.run_id)
            .limit(limit)
        )
        with self.db.read() as connection:
            return [row[0] for row in connection.execute(query)]

    def search(
        self,
        *,
        experiments: Sequence[str] | None,
        filter: str | None,
        order_by: str | Sequence[str] | None,
        limit: int | None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], Logged]:
        """Matching run rows, ordered and limited, with their logged values: one read."""
        chosen, text, clauses = _search_terms(experiments, filter, order_by)
        with self._read_runs() as connection:
            rows = _search(connection, chosen, text, clauses, limit, offset)
            logged = self._logged(connection, [row["run_id"] for row in rows])
        return rows, logged

    def search_counted(
        self,
        *,
        experiments: Sequence[str] | None,
        filter: str | None,
        order_by: str | Sequence[str] | None,
        limit: int,
        offset: int,
        at_most: int,
    ) -> tuple[list[dict[str, Any]], Logged, int]:
        """:meth:`search` and :meth:`count` (with ``at_most``) in one read; a filter that
        matches often answers both from one window of runs."""
        chosen, text, clauses = _search_terms(experiments, filter, order_by)
        tried = bool(text) and _by_attribute(clauses) and windowed(_listed(clauses))
        with self._read_runs() as connection:
            ids = None
            if text and tried:
                needed = max(offset + limit, at_most + 1)
                ids = first_matches(connection, _scope(chosen), text, _listed(clauses), needed)
            if ids is None:  # a rare match (tried) or an order without a window
                rows = _search(connection, chosen, text, clauses, limit, offset, window=not tried)
                count = _count(connection, chosen, text, at_most, window=not tried)
            else:
                rows = _rows_of(connection, ids[offset : offset + limit])
                count = min(len(ids), at_most + 1)
            logged = self._logged(connection, [row["run_id"] for row in rows])
        return rows, logged, count

    def count(
        self,
        *,
        experiments: Sequence[str] | None,
        filter: str | None,
        at_most: int | None = None,
    ) -> int:
        """How many runs match (for paging: counted in SQL, no run is read).

        With ``at_most``, counting stops at ``at_most + 1``: a result above ``at_most``
        means "more than ``at_most``", and a filter that matches often is counted
        among the newest runs only (:mod:`~modelcycle.tracking._window`).
        """
        chosen, text, _ = _search_terms(experiments, filter, None)
        with self._read_runs() as connection:
            return _count(connection, chosen, text, at_most)

    def logged(self, run_ids: Sequence[str]) -> Logged:
        """Params, latest metrics and tags of these runs."""
        with self.db.read() as connection:
            return self._logged(connection, run_ids)

    def _logged(self, connection: Connection, run_ids: Sequence[str]) -> Logged:
        logged = Logged(
            {i: {} for i in run_ids}, {i: {} for i in run_ids}, {i: {} for i in run_ids}
        )
        targets = (logged.params, logged.metrics, logged.tags)
        for chunk in _chunks(run_ids):
            for kind, run_id, key, text, number in connection.execute(_LOGGED, {"ids": chunk}):
                targets[kind][run_id][key] = number if kind == 1 else text
        return logged

    def children(self, run_id: str) -> list[str]:
        """Ids of the runs whose parent is ``run_id``, oldest first."""
        query = (
            sa.select(tables.runs.c.run_id)
            .where(tables.runs.c.parent_run_id == run_id)
            .order_by(tables.runs.c.start_time, tables.runs.c.run_id)
        )
        with self.db.read() as connection:
            return [row[0] for row in connection.execute(query)]

    # -- logged values ---------------------------------------------------------------

    def key_values(self, table: sa.Table, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{run_id: {key: value}}`` from params, tags or latest_metrics."""
        result: dict[str, dict[str, Any]] = {run_id: {} for run_id in run_ids}
        for chunk in _chunks(run_ids):
            query = sa.select(table.c.run_id, table.c.key, table.c.value).where(
                table.c.run_id.in_(chunk)
            )
            with self.db.read() as connection:
                for run_id, key, value in connection.execute(query):
                    result[run_id][key] = value
        return result

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        """Every ``(step, value, timestamp)`` logged for ``key``, in step then time order."""
        m = tables.metrics
        query = (
            sa.select(m.c.step, m.c.value, m.c.timestamp)
            .where(m.c.run_id == run_id, m.c.key == key)
            .order_by(m.c.step, m.c.timestamp, m.c.metric_id)
        )
        with self.db.read() as connection:
            return [(int(s), float(v), int(t)) for s, v, t in connection.execute(query)]

    def latest_metrics(
        self, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, float, int, int]]]:
        """``{run_id: [(key, value, step, timestamp)]}``: each metric's latest value, by key."""
        m = tables.latest_metrics
        found: dict[str, list[tuple[str, float, int, int]]] = {run_id: [] for run_id in run_ids}
        for chunk in _chunks(run_ids):
            query = (
                sa.select(m.c.run_id, m.c.key, m.c.value, m.c.step, m.c.timestamp)
                .where(m.c.run_id.in_(chunk))
                .order_by(m.c.run_id, m.c.key)
            )
            with self.db.read() as connection:
                for run_id, key, value, step, timestamp in connection.execute(query):
                    found[run_id].append((key, float(value), int(step), int(timestamp)))
        return found

    def params_of(self, run_id: str) -> dict[str, str]:
        """The params already stored for one run."""
        return self.key_values(tables.params, [run_id])[run_id]

    def write_batch(self, records: Sequence[Record]) -> None:
        """Store a batch of metrics, params and tags in one transaction."""
        metric_rows = [_metric_row(r) for r in records if isinstance(r, MetricRecord)]
        params = _last_by_key(
            r for r in records if isinstance(r, ParamRecord) and r.kind == "param"
        )
        tags = _last_by_key(r for r in records if isinstance(r, ParamRecord) and r.kind == "tag")
        latest = _latest_by_key(metric_rows)

        def work(connection: Connection) -> None:
            if metric_rows:
                connection.execute(tables.metrics.insert(), metric_rows)
                self._upsert_latest(connection, latest)
            if params:
                self._insert_params(connection, params)
            if tags:
                self._upsert_tags(connection, tags)

        self.db.transaction(work)

    def _upsert_latest(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        stmt = self.db.insert(tables.latest_metrics)
        current = tables.latest_metrics.c
        newer = sa.or_(
            stmt.excluded.step > current.step,
            sa.and_(
                stmt.excluded.step == current.step, stmt.excluded.timestamp >= current.timestamp
            ),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": stmt.excluded.value,
                "step": stmt.excluded.step,
                "timestamp": stmt.excluded.timestamp,
            },
            where=newer,
        )
        connection.execute(stmt, rows)

    def _insert_params(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        # The first value wins; ActiveRun refuses a changed value before it is queued.
        self.db.insert_ignore(connection, tables.params, rows)

    def _upsert_tags(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        stmt = self.db.insert(tables.tags)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
        )
        connection.execute(stmt, rows)

    # -- datasets and artifacts ---------------------------------------------------

    def link_dataset(
        self, run_id: str, dataset: DatasetFingerprint, role: str, name: str | None
    ) -> None:
        """Record that a run used a dataset in ``role`` (e.g. ``train``, ``test``)."""
        dataset_row = {
            "dataset_hash": dataset.hash,
            "rows": dataset.rows,
            "columns": json.dumps(list(dataset.columns)),
            "dtypes": json.dumps(list(dataset.dtypes)),
            "created_at": now_ms(),
        }
        link = {"run_id": run_id, "dataset_hash": dataset.hash, "role": role, "name": name}

        def work(connection: Connection) -> None:
            self.db.insert_ignore(connection, tables.datasets, [dataset_row])
            stmt = self.db.insert(tables.run_datasets)
            connection.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "dataset_hash", "role"],
                    set_={"name": stmt.excluded.name},
                ),
                link,
            )

        self.db.transaction(work)

    def datasets_of(self, run_id: str) -> list[dict[str, Any]]:
        """Datasets linked to a run."""
        d, rd = tables.datasets, tables.run_datasets
        query = (
            sa.select(rd.c.role, rd.c.name, d.c.dataset_hash, d.c.rows, d.c.columns, d.c.dtypes)
            .select_from(rd.join(d, d.c.dataset_hash == rd.c.dataset_hash))
            .where(rd.c.run_id == run_id)
            .order_by(rd.c.role, rd.c.name)
        )
        with self.db.read() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["columns"] = json.loads(row["columns"])
            row["dtypes"] = json.loads(row["dtypes"])
        return rows

    def record_artifacts(self, rows: list[dict[str, Any]]) -> None:
        """Record logged artifacts; re-logging a path points it at the new content."""

        def work(connection: Connection) -> None:
            stmt = self.db.insert(tables.artifacts)
            connection.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={
                        "sha256": stmt.excluded.sha256,
                        "size": stmt.excluded.size,
                        "created_at": stmt.excluded.created_at,
                    },
                ),
                rows,
            )

        self.db.transaction(work)

    def artifacts_under(self, run_ids: Sequence[str], folder: str) -> list[dict[str, Any]]:
        """``run_id``, ``path``, ``sha256`` and ``size`` of these runs' artifacts in ``folder``."""
        a = tables.artifacts
        found: list[dict[str, Any]] = []
        for chunk in _chunks(run_ids):
            query = (
                sa.select(a.c.run_id, a.c.path, a.c.sha256, a.c.size)
                .where(a.c.run_id.in_(chunk), a.c.path.startswith(f"{folder}/", autoescape=True))
                .order_by(a.c.run_id, a.c.path)
            )
            with self.db.read() as connection:
                found.extend(dict(row._mapping) for row in connection.execute(query))
        return found

    def artifacts_of(self, run_id: str) -> list[dict[str, Any]]:
        """Artifacts logged by a run, by path."""
        a = tables.artifacts
        query = (
            sa.select(a.c.path, a.c.sha256, a.c.size, a.c.created_at)
            .where(a.c.run_id == run_id)
            .order_by(a.c.path)
        )
        with self.db.read() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


def _last_metric_time() -> Any:
    """The time of the current run row's newest metric (a correlated scalar subquery)."""
    metrics = tables.metrics
    return (
        sa.select(sa.func.max(metrics.c.timestamp))
        .where(metrics.c.run_id == tables.runs.c.run_id)
        .scalar_subquery()
    )


def _silent_statement(*, sqlite: bool) -> sa.CompoundSelect[Any]:
    # Two indexed lookups (status, heartbeat_at) of the few RUNNING runs, not one OR,
    # which SQLite answers by scanning every run by start time.
    runs = tables.runs
    columns = (runs.c.run_id, runs.c.heartbeat_at)
    running: Any = runs.c.status == RunStatus.RUNNING.value
    if sqlite:
        # SQLite keeps one average per column: with nearly every run FINISHED,
        # ``status = 'RUNNING'`` looked unselective and it scanned every run (8 ms per
        # read at 100,000 runs, paid by every page). ``likelihood`` says it is rare.
        running = sa.func.likelihood(running, sa.literal_column("0.001"))
    silent = sa.select(*columns).where(running, runs.c.heartbeat_at < sa.bindparam("silent_before"))
    legacy = sa.select(*columns).where(
        running,
        runs.c.heartbeat_at.is_(None),
        sa.func.coalesce(_last_metric_time(), runs.c.start_time) < sa.bindparam("legacy_before"),
    )
    return sa.union_all(silent, legacy)


#: Built once per dialect (SQLite or not): it runs before every read of runs.
_SILENT = {sqlite: _silent_statement(sqlite=sqlite) for sqlite in (True, False)}


def _silent_runs(
    connection: Connection, timeout_ms: int, alive: set[str]
) -> list[tuple[str, int | None]]:
    """``(run_id, heartbeat_at)`` of the RUNNING runs silent for more than ``timeout_ms``."""
    now = now_ms()
    found = connection.execute(
        _SILENT[connection.dialect.name == "sqlite"],
        {"silent_before": now - timeout_ms, "legacy_before": now - LEGACY_RUN_TIMEOUT_MS},
    )
    return [(run_id, heartbeat) for run_id, heartbeat in found if run_id not in alive]


def _kill(run_id: str, heartbeat: int | None, timeout_ms: int) -> sa.Update:
    """End one silent run as KILLED, unless it changed since it was found silent."""
    runs = tables.runs
    unchanged = [runs.c.run_id == run_id, runs.c.status == RunStatus.RUNNING]
    if heartbeat is None:
        unchanged.append(runs.c.heartbeat_at.is_(None))
        end: Any = sa.func.coalesce(_last_metric_time(), runs.c.start_time)
        error = (
            "started without heartbeats (by an MLflow client, or a modelcycle before them) "
            "and silent for more than "
            f"{LEGACY_RUN_TIMEOUT_MS // 3_600_000} hours; its process is presumed gone"
        )
    else:
        unchanged.append(runs.c.heartbeat_at == heartbeat)
        end = heartbeat
        error = (
            f"its process stopped sending heartbeats at {_iso(heartbeat)} and was "
            f"silent for more than {timeout_ms / 1000:g} s (killed, crashed, or cut off from "
            "the database)"
        )
    return (
        runs.update().where(*unchanged).values(status=RunStatus.KILLED, end_time=end, error=error)
    )


def _iso(ms: int) -> str:
    moment = ms_to_datetime(ms)
    assert moment is not None
    return moment.isoformat(timespec="seconds")


# Params (kind 0), latest metrics (1) and tags (2) of some runs, in one statement.
_LOGGED = sa.text(
    "SELECT 0, run_id, key, value, NULL FROM params WHERE run_id IN :ids "
    "UNION ALL SELECT 1, run_id, key, NULL, value FROM latest_metrics WHERE run_id IN :ids "
    "UNION ALL SELECT 2, run_id, key, value, NULL FROM tags WHERE run_id IN :ids"
).bindparams(sa.bindparam("ids", expanding=True))


@functools.lru_cache(maxsize=256)
def _search_statement(
    experiments: tuple[str, ...] | None,
    filter: str | None,
    order_by: tuple[str, ...] | None,
    limit: int | None,
) -> sa.Select[Any]:
    """The search query; built once per distinct search (statements are immutable)."""
    query = _runs_select()
    if experiments is not None:
        query = query.where(tables.experiments.c.name.in_(list(experiments)))
    if filter:
        query = query.where(compile_filter(parse_filter(filter)))
    query = query.order_by(*parse_order_by(list(order_by) if order_by is not None else None))
    if limit is not None:
        query = query.limit(limit)
    return query


def _search_terms(
    experiments: Sequence[str] | None,
    filter: str | None,
    order_by: str | Sequence[str] | None,
) -> tuple[tuple[str, ...] | None, str | None, tuple[str, ...] | None]:
    """The experiments, filter and ``order_by`` clauses of a search, normalized."""
    chosen = tuple(experiments) if experiments is not None else None
    text = filter.strip() if filter else None
    clauses = tuple(_as_list(order_by) or ()) if order_by is not None else None
    return chosen, text or None, clauses


def _by_attribute(clauses: tuple[str, ...] | None) -> bool:
    """Whether a search's order starts with a run attribute (not a logged value)."""
    fields = order_fields(clauses) if clauses else []
    return not fields or fields[0][0].kind == "attribute"


def _listed(clauses: tuple[str, ...] | None) -> list[str] | None:
    return list(clauses) if clauses is not None else None


def _search(
    connection: Connection,
    experiments: tuple[str, ...] | None,
    filter: str | None,
    clauses: tuple[str, ...] | None,
    limit: int | None,
    offset: int,
    *,
    window: bool = True,
) -> list[dict[str, Any]]:
    """Run rows of a search: sorted by a logged value, or by run attributes (a filtered
    page from a window of runs first when ``window``)."""
    if not _by_attribute(clauses):
        assert clauses is not None
        fields = order_fields(clauses)
        return _search_by_value(connection, experiments, filter, fields, limit, offset)
    if filter and limit is not None and window:
        ids = first_matches(
            connection, _scope(experiments), filter, _listed(clauses), offset + limit
        )
        if ids is not None:
            return _rows_of(connection, ids[offset:])
    query = _search_statement(experiments, filter, clauses, limit)
    if offset:
        query = query.offset(offset)
    return [dict(row._mapping) for row in connection.execute(query)]


def _count(
    connection: Connection,
    experiments: tuple[str, ...] | None,
    filter: str | None,
    at_most: int | None,
    *,
    window: bool = True,
) -> int:
    """Matching runs, up to ``at_most + 1``; from a window first when ``window``."""
    scope = _scope(experiments)
    if filter and at_most is not None and window:
        ids = first_matches(connection, scope, filter, None, at_most + 1)
        if ids is not None:
            return len(ids)
    if filter:
        scope = scope.where(compile_filter(parse_filter(filter)))
    if at_most is not None:
        scope = scope.limit(at_most + 1)
    query = sa.select(sa.func.count()).select_from(scope.subquery())
    return int(connection.execute(query).scalar() or 0)


def _rows_of(connection: Connection, run_ids: list[str]) -> list[dict[str, Any]]:
    """The rows of these runs, in this order."""
    if not run_ids:
        return []
    query = _runs_select().where(tables.runs.c.run_id.in_(run_ids))
    found = {row.run_id: dict(row._mapping) for row in connection.execute(query)}
    return [found[run_id] for run_id in run_ids]


def _scope(experiments: tuple[str, ...] | None) -> sa.Select[Any]:
    """The ``run_id`` of every run of ``experiments`` (all runs for ``None``)."""
    query = sa.select(tables.runs.c.run_id).select_from(_runs_join())
    if experiments is not None:
        query = query.where(tables.experiments.c.name.in_(list(experiments)))
    return query


def _search_by_value(
    connection: Connection,
    experiments: tuple[str, ...] | None,
    filter: str | None,
    fields: list[tuple[Field, str]],
    limit: int | None,
    offset: int,
) -> list[dict[str, Any]]:
    """A search sorted first by a metric, param or tag, in two indexed reads.

    One ``ORDER BY value`` over a left join sorts every run (a scan of 100,000 runs
    per page). Instead the runs that logged the value come first, read in the
    ``(key, value, run_id)`` index's order and stopped at the page's end; only a page
    past them reads the runs without the value (NULLs last, as before), ordered by
    the remaining clauses.
    """
    field, direction = fields[0]
    logged = logged_table(field).alias("sort_value")
    rest = [_order_term(f, d) for f, d in fields[1:]] + [tables.runs.c.run_id]
    base = _runs_select()
    if experiments is not None:
        base = base.where(tables.experiments.c.name.in_(list(experiments)))
    if filter:
        base = base.where(compile_filter(parse_filter(filter)))
    has_value = base.where(logged.c.run_id == tables.runs.c.run_id, logged.c.key == field.key)
    keys = [k.desc() if direction == "desc" else k.asc() for k in sort_key(field, logged.c.value)]
    first = has_value.order_by(*keys, *rest).limit(limit).offset(offset or None)
    rows = [dict(row._mapping) for row in connection.execute(first)]
    if limit is not None and len(rows) >= limit:
        return rows
    skip = 0
    if not rows and offset:
        counted = sa.select(sa.func.count()).select_from(has_value.subquery())
        skip = max(0, offset - int(connection.execute(counted).scalar() or 0))
    without = base.where(
        tables.runs.c.run_id.not_in(sa.select(logged.c.run_id).where(logged.c.key == field.key))
    ).order_by(*rest)
    more = None if limit is None else limit - len(rows)
    second = without.limit(more).offset(skip or None)
    return rows + [dict(row._mapping) for row in connection.execute(second)]


def _order_term(field: Field, direction: str) -> Any:
    column = value_column(field)
    ordered = column.desc() if direction == "desc" else column.asc()
    return ordered.nulls_last()


def _runs_join() -> Any:
    return tables.runs.join(
        tables.experiments, tables.experiments.c.experiment_id == tables.runs.c.experiment_id
    )


def _runs_select() -> sa.Select[Any]:
    return sa.select(*tables.runs.c, tables.experiments.c.name.label("experiment")).select_from(
        _runs_join()
    )


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    items = list(items)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _metric_row(record: MetricRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "key": record.key,
        "value": record.value,
        "step": record.step,
        "timestamp": record.timestamp,
    }


def _latest_by_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["run_id"], row["key"])
        seen = latest.get(key)
        if seen is None or (row["step"], row["timestamp"]) >= (seen["step"], seen["timestamp"]):
            latest[key] = row
    # Sorted so concurrent writers lock rows in the same order (no deadlocks on PostgreSQL).
    return [latest[k] for k in sorted(latest)]


def _last_by_key(records: Iterable[ParamRecord]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        rows[(r.run_id, r.key)] = {"run_id": r.run_id, "key": r.key, "value": r.value}
    return [rows[k] for k in sorted(rows)]
