"""The workspace: one database plus one artifact root, and every service on them."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import pandas as pd
from pydantic import ValidationError as PydanticValidationError

from modelcycle.core import Settings, ValidationError, looks_like_database
from modelcycle.records import JobQueue
from modelcycle.registry import Registry
from modelcycle.security import Security
from modelcycle.services import Services
from modelcycle.store import ArtifactStore, Database
from modelcycle.tracking import ActiveRun, Run, Tracker

if TYPE_CHECKING:
    from modelcycle.lifecycle import PolicyStore, Worker
    from modelcycle.workspace._train import Progress, TrainResult


class Workspace:
    """A workspace: where runs, models and their artifacts live.

    Parameters
    ----------
    home:
        A workspace folder (holding ``modelcycle.db`` and ``artifacts/``), a
        database URL (``postgresql://...``) or a libpq connection string
        (``host=... dbname=...``). Default: ``MODELCYCLE_HOME``, else ``./.modelcycle``.
    db_url, artifact_root:
        Override where the database and the artifacts are.
    log_url:
        Override where the prediction and feedback logs and the monitoring reports are:
        a folder or ``s3://bucket/prefix`` (default ``MODELCYCLE_LOG_URL``, else
        ``MODELCYCLE_LOG_ROOT``, else the workspace folder).
    settings:
        A full :class:`~modelcycle.core.Settings`; by default built from the environment.
    cluster:
        A Dask scheduler address (``tcp://host:8786``; default ``MODELCYCLE_DASK_ADDRESS``):
        :meth:`train` runs its search's trials on that cluster's workers.
    upgrade:
        Apply pending schema migrations on open (default). With ``False`` an old
        database is refused instead.
    create:
        Make the workspace when there is none (default). With ``False`` a folder
        without a workspace database, or an empty database, is refused with
        :class:`~modelcycle.core.NotFound` and nothing is created (read-only commands).

    Examples
    --------
    >>> import tempfile, modelcycle as mc
    >>> ws = mc.Workspace(tempfile.mkdtemp())
    >>> with ws.start_run(experiment="demo") as run:
    ...     run.log_metric("auc", 0.91)
    >>> ws.get_run(run.run_id).metrics["auc"]
    0.91
    >>> ws.close()
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        db_url: str | None = None,
        artifact_root: str | None = None,
        log_url: str | None = None,
        settings: Settings | None = None,
        cluster: str | None = None,
        upgrade: bool = True,
        create: bool = True,
    ) -> None:
        self.settings = resolve_settings(
            settings, home, db_url, artifact_root, cluster, log_url=log_url
        )
        #: The workspace's services, as every operation takes them (``create_app``...).
        self.services = Services.open(self.settings, upgrade=upgrade, create=create)
        self.db: Database = self.services.db
        self.artifacts: ArtifactStore = self.services.artifacts
        self.tracker: Tracker = self.services.tracker
        self.registry: Registry = self.services.registry
        self.security: Security = self.services.security

    @property
    def location(self) -> str:
        """Where this workspace is, for people: its folder, or its database URL (no password)."""
        return self.services.location

    def __repr__(self) -> str:
        artifacts = self.settings.resolved_artifact_root()
        return f"Workspace(db={self.db.display_url!r}, artifacts={artifacts!r})"

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start_run(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        parent: str | ActiveRun | Run | None = None,
        tags: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> ActiveRun:
        """Start a run in ``experiment`` (created on first use); see :class:`ActiveRun`."""
        return self.tracker.start_run(experiment, name=name, parent=parent, tags=tags, actor=actor)

    def train(
        self,
        data: Any,
        *,
        target: str,
        name: str | None = None,
        budget: float = 60.0,
        task: str | None = None,
        metric: str | None = None,
        learners: Sequence[str] | None = None,
        seed: int = 0,
        test_size: float = 0.2,
        schema: str | os.PathLike[str] | None = None,
        experiment: str | None = None,
        n_jobs: int = 2,
        sql: str | None = None,
        drop: Sequence[str] = (),
        progress: Progress | None = None,
        distributed_data: bool = False,
        sample_rows: int = 100_000,
    ) -> TrainResult:
        """Train the best model for ``target`` within ``budget`` seconds, evaluate and track it.

        ``data`` is a DataFrame, a CSV/Parquet path, a SQL URL (with ``sql=``) or
        ``None`` with ``sql=`` for DuckDB over files. The data is checked, split into
        train and holdout, searched by AutoML (every trial a child run), evaluated on
        the holdout (report stored with the run), packaged, and — with ``name`` —
        registered as a new version of that model. Columns named in ``drop`` are left
        out of modelling (a leakage suspect, say); a leakage suspect left in fails the
        run's validation, so the registry's "validation passed" gate refuses to promote it.

        With ``distributed_data=True`` (and the workspace's ``cluster``), ``data`` is a
        Parquet dataset (a folder, a glob or an ``s3://`` prefix) that is never collected
        to this machine: it is read as a Dask DataFrame, profiled and summarised on the
        workers, and a LightGBM model is trained on every row with ``lightgbm.dask``,
        with parameters searched on a sample of ``sample_rows`` rows; the holdout is
        scored on the workers (see ``docs/deploy.md``).

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> import tempfile, modelcycle as mc
        >>> ws = mc.Workspace(tempfile.mkdtemp())
        >>> frame = load_breast_cancer(as_frame=True).frame
        >>> result = ws.train(frame, target="target", name="cancer", budget=5)  # doctest: +SKIP
        >>> result.version.version  # doctest: +SKIP
        1
        """
        from modelcycle.workspace._train import TrainOptions, train  # AutoML: load on use

        options = TrainOptions(
            target=target,
            name=name,
            budget=budget,
            task=task,
            metric=metric,
            learners=tuple(learners) if learners else None,
            seed=seed,
            test_size=test_size,
            schema_file=os.fspath(schema) if schema is not None else None,
            experiment=experiment,
            n_jobs=n_jobs,
            sql=sql,
            drop=tuple(drop),
            distributed_data=distributed_data,
            sample_rows=sample_rows,
        )
        return train(self, data, options, progress)

    @property
    def policies(self) -> PolicyStore:
        """The models' monitoring and retraining policies (see :mod:`modelcycle.lifecycle`)."""
        from modelcycle.lifecycle import PolicyStore  # monitoring and DuckDB: load on use

        return PolicyStore(self.db)

    @property
    def jobs(self) -> JobQueue:
        """The worker's job queue."""
        return self.services.jobs

    def worker(self, **options: Any) -> Worker:
        """A :class:`~modelcycle.lifecycle.Worker` on this workspace, retraining with :meth:`train`.

        ``options`` are the worker's (``lease_s``, ``poll_s``, ``owner``, ``handlers``...);
        ``train_fn`` replaces :meth:`train`. On a workspace opened with a Dask cluster,
        ``monitor`` jobs read the prediction log on it (``read_fn``).

        Examples
        --------
        >>> ws.worker(lease_s=30).run(until_idle=True)  # doctest: +SKIP
        0
        """
        from modelcycle.lifecycle import Worker

        options.setdefault("train_fn", self.train)
        if self.settings.dask_address:
            options.setdefault("read_fn", functools.partial(_read_on_cluster, self.settings))
        return Worker(self.services, **options)

    def get_run(self, run_id: str) -> Run:
        """Read one run by id."""
        return self.tracker.get_run(run_id)

    @overload
    def runs(
        self,
        experiment: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        as_frame: Literal[False] = ...,
    ) -> list[Run]: ...

    @overload
    def runs(
        self,
        experiment: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        as_frame: Literal[True],
    ) -> pd.DataFrame: ...

    def runs(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 1000,
        as_frame: bool = False,
    ) -> list[Run] | pd.DataFrame:
        """Find runs by experiment and filter; see :meth:`Tracker.runs`."""
        if as_frame:
            return self.tracker.runs(
                experiment, filter=filter, order_by=order_by, limit=limit, as_frame=True
            )
        return self.tracker.runs(experiment, filter=filter, order_by=order_by, limit=limit)

    def experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its run count."""
        return self.tracker.experiments()

    def flush(self) -> None:
        """Write everything logged so far."""
        self.tracker.flush()

    def close(self) -> None:
        """Flush buffered logging and release database connections."""
        self.services.close()


def resolve_settings(
    settings: Settings | None,
    home: str | os.PathLike[str] | None,
    db_url: str | None,
    artifact_root: str | None,
    cluster: str | None = None,
    *,
    log_url: str | None = None,
) -> Settings:
    """Build the settings of a workspace from explicit arguments over the environment."""
    base = settings if settings is not None else _validated(Settings)
    values = base.model_dump()
    if home is not None:
        text = os.fspath(home)
        if looks_like_database(text):
            values["db_url"] = text
        else:
            values["home"] = Path(text)
            if settings is None and not os.environ.get("MODELCYCLE_DB_URL"):
                values["db_url"] = None
    if db_url is not None:
        values["db_url"] = db_url
    if artifact_root is not None:
        values["artifact_root"] = artifact_root
    if cluster is not None:
        values["dask_address"] = cluster
    if log_url is not None:  # given explicitly: wins over a log_root from the environment
        values["log_url"], values["log_root"] = log_url, None
    return _validated(lambda: Settings.model_validate(values))


def _validated(build: Callable[[], Settings]) -> Settings:
    try:
        return build()
    except PydanticValidationError as exc:  # it lists every bad field (never their values)
        raise ValidationError(f"workspace settings are not valid: {exc}") from None


def _read_on_cluster(settings: Settings, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``read_predictions`` on the workspace's Dask cluster, connected for this one read."""
    from modelcycle.distributed import ClusterLogReader, connect

    client = connect(str(settings.dask_address))
    try:
        return ClusterLogReader(client, settings)(*args, **kwargs)
    finally:
        client.close()  # type: ignore[no-untyped-call]
