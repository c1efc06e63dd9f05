"""The tracking service: start runs, query them, store and fetch their artifacts."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

import pandas as pd

from modelcycle.core import (
    ARTIFACT_NAME,
    NotFound,
    Settings,
    ValidationError,
    datetime_to_ms,
    ms_to_datetime,
    new_id,
    now_ms,
)
from modelcycle.store import ArtifactStore, Database
from modelcycle.tracking._git import caller_git_commit, caller_source
from modelcycle.tracking._heartbeat import Heartbeat
from modelcycle.tracking._recorder import RunRecorder
from modelcycle.tracking._run import ActiveRun, Run
from modelcycle.tracking._status import RunStatus
from modelcycle.tracking._store import Logged, TrackingStore
from modelcycle.tracking._validation import check_experiment_name, check_run_name
from modelcycle.tracking._writer import BatchWriter

DEFAULT_EXPERIMENT = "default"
_FRAME_COLUMNS = [
    "run_id",
    "experiment",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "git_commit",
]


class Tracker:
    """Experiment tracking on one workspace database and artifact store.

    Thread-safety: share one tracker between threads freely; each
    :class:`ActiveRun` should be logged to from one thread at a time.

    Open runs record a heartbeat every ``settings.run_heartbeat_interval_s``; every
    read of runs (:meth:`get_run`, :meth:`get_runs`, :meth:`runs`) first ends as
    ``KILLED`` the runs silent for more than ``settings.run_heartbeat_timeout_s``
    (see :mod:`modelcycle.tracking._heartbeat`).
    """

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings) -> None:
        self.settings = settings
        self.store = TrackingStore(
            db,
            silence_timeout_ms=round(settings.run_heartbeat_timeout_s * 1000),
            alive=lambda: self.heartbeat.open_runs(),
        )
        self.artifacts = artifacts
        self.writer = BatchWriter(
            self.store.write_batch,
            interval_s=settings.tracking_flush_interval_s,
            max_buffer=settings.tracking_max_buffer,
        )
        self.heartbeat = Heartbeat(self.store.beat, interval_s=settings.run_heartbeat_interval_s)
        #: Records runs logged elsewhere (an MLflow client, an MLflow store) as given.
        self.recorder = RunRecorder(self.store, settings)

    def start_run(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        parent: str | ActiveRun | Run | None = None,
        tags: dict[str, Any] | None = None,
        actor: str | None = None,
        start_time: datetime | None = None,
    ) -> ActiveRun:
        """Create a run (status ``RUNNING``) and return it for logging.

        A child run (``parent=``) defaults to its parent's experiment. ``actor``
        (default: the operating-system user) is recorded in the audit log.
        ``start_time`` records work that began earlier (default: now).
        """
        parent_id = parent.run_id if isinstance(parent, ActiveRun | Run) else parent
        if experiment is None:
            experiment = (
                self.store.get_run_row(parent_id)["experiment"] if parent_id else DEFAULT_EXPERIMENT
            )
        check_experiment_name(experiment)
        if name is not None:
            check_run_name(name)
        experiment_id = self.store.get_or_create_experiment(experiment)
        run_id = new_id()
        name = name or f"run-{run_id[:8]}"
        started = now_ms() if start_time is None else datetime_to_ms(start_time)
        self.store.create_run(
            {
                "run_id": run_id,
                "experiment_id": experiment_id,
                "parent_run_id": parent_id,
                "name": name,
                "status": RunStatus.RUNNING.value,
                "start_time": started,
                "heartbeat_at": started,
                "git_commit": caller_git_commit(),
                "source": caller_source(),
                "user_name": _user(),
            },
            actor=actor,
        )
        self.heartbeat.add(run_id)
        run = ActiveRun(self, run_id, experiment, name)
        if tags:
            run.set_tags(tags)
        return run

    def get_run(self, run_id: str) -> Run:
        """Read one run, with its params, tags and latest metrics."""
        self.writer.flush()
        row = self.store.get_run_row(run_id)
        return self._build_runs([row], self.store.logged([run_id]))[0]

    def resolve_run_id(self, text: str) -> str:
        """Expand a unique prefix (at least 4 characters) to a full run id."""
        text = text.strip().lower()
        if len(text) == 32:
            return text
        if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
            raise ValidationError(
                f"run id {text!r} is not valid; expected a 32-character hex id or a unique "
                "prefix of at least 4 characters"
            )
        matches = self.store.run_ids_with_prefix(text)
        if not matches:
            raise NotFound(f"no run id starts with {text!r}; list runs with 'modelcycle runs list'")
        if len(matches) > 1:
            raise ValidationError(f"run id prefix {text!r} is ambiguous; give more characters")
        return matches[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Read several runs (unknown ids are skipped), in the given order."""
        self.writer.flush()
        rows = self.store.run_rows(run_ids)
        return self._build_runs(rows, self.store.logged([row["run_id"] for row in rows]))

    @overload
    def runs(
        self,
        experiment: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: str | Sequence[str] | None = ...,
        limit: int | None = ...,
        offset: int = ...,
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
        offset: int = ...,
        as_frame: Literal[True],
    ) -> pd.DataFrame: ...

    def runs(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 1000,
        offset: int = 0,
        as_frame: bool = False,
    ) -> list[Run] | pd.DataFrame:
        """Find runs.

        Parameters
        ----------
        experiment:
            One experiment name, several, or ``None`` for all.
        filter:
            E.g. ``"metrics.auc > 0.9 and params.lr = '0.1'"`` (see the filter grammar).
        order_by:
            E.g. ``"metrics.auc DESC"`` or a list of such clauses; default newest first.
        limit:
            Most runs returned (``None``: no limit).
        offset:
            Skip this many matching runs first (paging, with :meth:`count_runs`).
        as_frame:
            Return a pandas DataFrame with ``params.*``, ``metrics.*``, ``tags.*`` columns.
        """
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValidationError(f"limit {limit!r} is not valid; expected a non-negative integer")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError(
                f"offset {offset!r} is not valid; expected a non-negative integer"
            )
        experiments = [experiment] if isinstance(experiment, str) else experiment
        self.writer.flush()
        rows, logged = self.store.search(
            experiments=experiments, filter=filter, order_by=order_by, limit=limit, offset=offset
        )
        if as_frame:
            return self._frame(rows, logged)
        return self._build_runs(rows, logged)

    def count_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        at_most: int | None = None,
    ) -> int:
        """How many runs :meth:`runs` finds with no limit (counted in SQL).

        ``at_most`` bounds the work: counting stops at ``at_most + 1`` matches, so a
        result above ``at_most`` means "more than ``at_most``" (a page can say so
        without counting 100,000 runs); a result up to ``at_most`` is exact.

        Examples
        --------
        >>> tracker.count_runs("sweep", filter="metrics.auc > 0.5", at_most=500)  # doctest: +SKIP
        501
        """
        if at_most is not None:
            _check_count("at_most", at_most)
        experiments = [experiment] if isinstance(experiment, str) else experiment
        self.writer.flush()
        return self.store.count(experiments=experiments, filter=filter, at_most=at_most)

    def runs_counted(
        self,
        experiment: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int,
        offset: int = 0,
        at_most: int,
    ) -> tuple[list[Run], int]:
        """A page of :meth:`runs` and :meth:`count_runs` with ``at_most``, in one read.

        A filter that matches often answers both from one window of runs: the page and
        the bounded count cost a few thousand index lookups, not a pass over every run.
        """
        for name, value in (("limit", limit), ("offset", offset), ("at_most", at_most)):
            _check_count(name, value)
        experiments = [experiment] if isinstance(experiment, str) else experiment
        self.writer.flush()
        rows, logged, count = self.store.search_counted(
            experiments=experiments,
            filter=filter,
            order_by=order_by,
            limit=limit,
            offset=offset,
            at_most=at_most,
        )
        return self._build_runs(rows, logged), count

    def experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its run count and the start of its latest run."""
        self.writer.flush()
        rows = self.store.list_experiments()
        for row in rows:
            row["created_at"] = ms_to_datetime(row["created_at"])
            row["last_run"] = ms_to_datetime(row["last_run"])
        return rows

    def experiment_names(self) -> list[str]:
        """Every experiment's name, newest first (cheaper than :meth:`experiments`)."""
        return self.store.experiment_names()

    def end_silent_runs(self) -> list[str]:
        """End as ``KILLED`` the runs whose process stopped sending heartbeats; return their ids."""
        assert self.store.silence_timeout_ms is not None
        return self.store.end_silent_runs(
            timeout_ms=self.store.silence_timeout_ms, alive=self.heartbeat.open_runs()
        )

    def flush(self) -> None:
        """Write every buffered metric, param and tag now."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and stop the background writer and the heartbeat of open runs."""
        self.heartbeat.close()
        self.writer.close()

    # -- artifacts -------------------------------------------------------------------

    def log_artifact(self, run_id: str, path: Path, name: str | None) -> list[str]:
        """Store a file, or every file under a folder, as artifacts of ``run_id``."""
        if not path.exists():
            raise NotFound(f"artifact path {str(path)!r} does not exist")
        base = name if name is not None else path.name
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            entries = [(f"{base}/{p.relative_to(path).as_posix()}", p) for p in files]
        else:
            entries = [(base, path)]
        for artifact_path, _ in entries:  # every name first: nothing is stored on a refusal
            ARTIFACT_NAME.check(artifact_path)
        rows = []
        for artifact_path, file in entries:
            blob = self.artifacts.put_file(file)
            rows.append(_artifact_row(run_id, artifact_path, blob.sha256, blob.size))
        if rows:
            self.store.record_artifacts(rows)
        return [row["path"] for row in rows]

    def log_artifact_bytes(self, run_id: str, data: bytes, name: str) -> str:
        """Store ``data`` as artifact ``name`` of ``run_id``."""
        ARTIFACT_NAME.check(name)
        blob = self.artifacts.put_bytes(data)
        self.store.record_artifacts([_artifact_row(run_id, name, blob.sha256, blob.size)])
        return name

    def _artifact(self, run_id: str, path: str) -> dict[str, Any]:
        for row in self.store.artifacts_of(run_id):
            if row["path"] == path:
                return row
        self.store.get_run_row(run_id)
        raise NotFound(f"run {run_id} has no artifact {path!r}")

    def download_artifact(
        self, run_id: str, path: str, destination: str | os.PathLike[str]
    ) -> Path:
        """Copy a run's artifact to ``destination`` after verifying its SHA-256."""
        row = self._artifact(run_id, path)
        return self.artifacts.copy_to(row["sha256"], destination, size=row["size"], name=path)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return a run's artifact content, verified."""
        row = self._artifact(run_id, path)
        return self.artifacts.read_bytes(row["sha256"], size=row["size"], name=path)

    # -- building results ------------------------------------------------------------

    def _build_runs(self, rows: list[dict[str, Any]], logged: Logged) -> list[Run]:
        params, metrics, tags = logged.params, logged.metrics, logged.tags
        return [
            Run(
                run_id=row["run_id"],
                experiment=row["experiment"],
                name=row["name"],
                status=row["status"],
                start_time=ms_to_datetime(row["start_time"]),  # type: ignore[arg-type]
                end_time=ms_to_datetime(row["end_time"]),
                parent_run_id=row["parent_run_id"],
                git_commit=row["git_commit"],
                source=row["source"],
                user=row["user_name"],
                error=row["error"],
                params=params[row["run_id"]],
                metrics=metrics[row["run_id"]],
                tags=tags[row["run_id"]],
                _tracker=self,
            )
            for row in rows
        ]

    def _frame(self, rows: list[dict[str, Any]], logged: Logged) -> pd.DataFrame:
        params, metrics, tags = logged.params, logged.metrics, logged.tags
        records = []
        for row in rows:
            record: dict[str, Any] = {
                "run_id": row["run_id"],
                "experiment": row["experiment"],
                "name": row["name"],
                "status": row["status"],
                "start_time": pd.Timestamp(row["start_time"], unit="ms", tz="UTC"),
                "end_time": pd.Timestamp(row["end_time"], unit="ms", tz="UTC")
                if row["end_time"] is not None
                else pd.NaT,
                "parent_run_id": row["parent_run_id"],
                "git_commit": row["git_commit"],
            }
            record.update({f"metrics.{k}": v for k, v in metrics[row["run_id"]].items()})
            record.update({f"params.{k}": v for k, v in params[row["run_id"]].items()})
            record.update({f"tags.{k}": v for k, v in tags[row["run_id"]].items()})
            records.append(record)
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            frame = pd.DataFrame(columns=_FRAME_COLUMNS)
        return frame


def _artifact_row(run_id: str, path: str, sha256: str, size: int) -> dict[str, Any]:
    return {"run_id": run_id, "path": path, "sha256": sha256, "size": size, "created_at": now_ms()}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _check_count(name: str, value: object) -> None:
    """Refuse a ``limit``, ``offset`` or ``at_most`` that is not a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{name} {value!r} is not valid; expected a non-negative integer")
