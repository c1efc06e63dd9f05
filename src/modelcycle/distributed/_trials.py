"""An AutoML search's trials on Dask workers (see :mod:`modelcycle.automl._executor`).

The search proposes and records in this process; each trial runs as one Dask task on a
worker, with the training matrices scattered to every worker once per matrix. A tuned
trial's worker reports its folds' scores to the Optuna study through shared storage, so
the median pruner judges it against every trial of the study, wherever it ran: the
workspace's PostgreSQL database (Optuna's tables in their own schema,
:data:`OPTUNA_SCHEMA`, beside the workspace's), or Optuna's ``DaskStorage`` in the
scheduler's memory otherwise (a SQLite file is not shared between machines).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from modelcycle.automl import (
    TrialContext,
    TrialExecutor,
    TrialJob,
    TrialResult,
    execute_trial,
    reporting,
)

if TYPE_CHECKING:
    from distributed import Client, Future
    from modelcycle.automl._trial import Matrix
    from modelcycle.store import Database

#: The PostgreSQL schema holding Optuna's tables (apart from the workspace's own).
OPTUNA_SCHEMA = "modelcycle_optuna"


def optuna_storage(client: Client, database: Database | None = None) -> Any:
    """The storage the search's studies share with the workers.

    The workspace's database when it is PostgreSQL (every worker reaches it), else
    Optuna's ``DaskStorage`` held by the scheduler of ``client``.
    """
    if database is not None and database.dialect == "postgresql":
        with database.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{OPTUNA_SCHEMA}"')
        return optuna.storages.RDBStorage(
            database.url.render_as_string(hide_password=False),
            engine_kwargs={
                "pool_pre_ping": True,
                "connect_args": {
                    **database.connect_args,  # the timeout, and an sslpassword kept out of the URL
                    "options": f"-c search_path={OPTUNA_SCHEMA}",
                },
            },
        )
    from optuna_integration.dask import DaskStorage

    with warnings.catch_warnings():  # "experimental": the interface we use is small
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return DaskStorage(client=client)


@dataclass(frozen=True)
class _Database:
    """An ``RDBStorage`` as a task carries it: its URL and engine options, plain data.

    Not the storage itself: unpickling an ``RDBStorage`` opens a connection pool, and
    every process that unpickles a task's arguments (the scheduler too) would keep one
    open until PostgreSQL refuses new clients. The worker opens the storage in the task
    and closes it at the end.
    """

    # Kept out of its repr: Dask logs the repr of a task's arguments it cannot handle,
    # and the URL holds the password (the engine options may hold an sslpassword).
    url: str = field(repr=False)
    engine_kwargs: dict[str, Any] = field(repr=False)

    def open(self) -> optuna.storages.RDBStorage:
        return optuna.storages.RDBStorage(self.url, engine_kwargs=self.engine_kwargs)


@dataclass(frozen=True)
class _StudyTrial:
    """Where a worker finds the trial it reports to: storage, study, trial number, pruner."""

    storage: _Database | str  # the database's URL, or the DaskStorage's name
    study_name: str
    number: int
    pruner: optuna.pruners.BasePruner

    @classmethod
    def of(cls, storage: Any, trial: optuna.Trial) -> _StudyTrial:
        shared: _Database | str
        if isinstance(storage, optuna.storages.RDBStorage):
            shared = _Database(storage.url, dict(storage.engine_kwargs))
        else:
            shared = storage.name
        return cls(shared, trial.study.study_name, trial.number, trial.study.pruner)

    def trial(self, storage: Any = None) -> optuna.Trial:
        """The trial, in ``storage`` (an opened :class:`_Database`) or the DaskStorage."""
        if storage is None:
            from optuna_integration.dask import DaskStorage

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = DaskStorage(name=self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=self.pruner)
        storage = study._storage  # the storage as Optuna wrapped it (with its cache)
        study_id = storage.get_study_id_from_name(self.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
        return optuna.trial.Trial(study, trial_id)


def _run_on_worker(
    job: TrialJob, reports_to: _StudyTrial | None, matrix: Matrix, context: TrialContext
) -> TrialResult:
    """One trial in a Dask task: the time it was sent with, the pruner through storage."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # per process: the worker's own
    database = None
    if reports_to is not None and isinstance(reports_to.storage, _Database):
        database = reports_to.storage.open()
    try:
        prune = reporting(reports_to.trial(database), job.sign) if reports_to else None
        return execute_trial(job, matrix, context, should_prune=prune)
    finally:
        if database is not None:
            database.remove_session()
            database.engine.dispose()  # this task's connections


#: How long a search waits for a worker when the cluster has none (workers still
#: starting, or restarted by their nanny) before it is refused.
WORKERS_WAIT_S = 10.0


def _wait_for_workers(client: Client) -> int:
    """The cluster's worker threads once a worker has joined (within :data:`WORKERS_WAIT_S`)."""
    from modelcycle.core import WorkspaceError

    with contextlib.suppress(TimeoutError, OSError):
        client.wait_for_workers(1, timeout=WORKERS_WAIT_S)
    threads = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
    if threads == 0:
        raise WorkspaceError(
            f"the Dask cluster at {client.scheduler_info().get('address')} has no workers "
            f"(none joined within {WORKERS_WAIT_S:g}s); start some with 'dask worker ADDRESS'"
        )
    return int(threads)


class DaskExecutor(TrialExecutor):
    """Trials as Dask tasks: one per worker thread at once (``slots``), same budget.

    Parameters
    ----------
    client:
        A client of the cluster (see :func:`~modelcycle.distributed.connect`).
    storage:
        The studies' Optuna storage (default: :func:`optuna_storage` without a database,
        the scheduler's memory).
    slots:
        Trials in flight at once (default: the cluster's worker threads when the search
        starts).
    """

    def __init__(self, client: Client, *, storage: Any = None, slots: int | None = None) -> None:
        self.client = client
        self.storage = storage if storage is not None else optuna_storage(client)
        threads = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
        if slots is None and threads == 0:
            threads = _wait_for_workers(client)
        self.slots = slots if slots is not None else threads
        self._matrices: dict[tuple[str, str], Future[Any]] = {}
        self._context: tuple[TrialContext, Future[Any]] | None = None
        self._jobs: dict[Any, TrialResult] = {}
        self._finished: Any = None  # a distributed.as_completed over the trials in flight
        self._watched: set[Any] = set()

    def _scattered_context(self, context: TrialContext) -> Future[Any]:
        if self._context is None or self._context[0] is not context:
            future = self.client.scatter(context, broadcast=True, hash=False)  # type: ignore[no-untyped-call]
            self._context = (context, future)
            self._matrices.clear()  # a new search: new matrices
        return self._context[1]

    def submit(
        self,
        job: TrialJob,
        matrices: Callable[[str, str], Matrix],
        context: TrialContext,
        time_left: Callable[[], float],
    ) -> Future[Any]:
        shared = self._scattered_context(context)
        key = job.matrix_key
        if key not in self._matrices:
            matrix = matrices(*key)
            self._matrices[key] = self.client.scatter(  # type: ignore[no-untyped-call]
                matrix, broadcast=True, hash=False
            )
        reports_to = None if job.trial is None else _StudyTrial.of(self.storage, job.trial)
        left = time_left()  # now, after any scatter: the search's clock kept running
        sent = TrialJob(job.result, left, None, job.sign, ends_at=time.time() + left)
        future = self.client.submit(
            _run_on_worker, sent, reports_to, self._matrices[key], shared, pure=False
        )
        self._jobs[future.key] = job.result
        return future

    def wait(self, pending: Sequence[Any]) -> tuple[list[TrialResult], list[Any]]:
        from distributed import as_completed

        if self._finished is None:
            self._finished = as_completed(  # type: ignore[no-untyped-call]
                loop=self.client.loop, raise_errors=False
            )
        waiting = {future.key for future in pending}
        for future in pending:
            if future.key not in self._watched:
                self._watched.add(future.key)
                self._finished.add(future)
        done = [next(self._finished), *self._finished.next_batch(block=False)]
        keys = {future.key for future in done}
        self._watched -= keys
        assert keys <= waiting
        results = [self._result(future) for future in done]
        return results, [future for future in pending if future.key not in keys]

    def close(self) -> None:
        """Release the studies' database connections (the client stays the caller's)."""
        if isinstance(self.storage, optuna.storages.RDBStorage):
            self.storage.remove_session()
            self.storage.engine.dispose()

    def _result(self, future: Future[Any]) -> TrialResult:
        """The trial's result, or the trial FAILED with the task's error (a lost worker...)."""
        sent = self._jobs.pop(future.key)
        try:
            result: TrialResult = future.result()
        except Exception as exc:  # the task's own error, re-raised here by Dask
            sent.status, sent.error = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
            return sent
        return result
