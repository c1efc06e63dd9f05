"""Runs logged elsewhere, recorded as they are given: by an MLflow client over HTTP, or
copied from an MLflow store.

Unlike :meth:`Tracker.start_run`, nothing is taken from this process (user, git
commit, source, time) and nothing is buffered: each call validates everything, then
writes in one transaction, so a caller that was answered finds its values on the next
read, from any process. Such a run has no heartbeat (its process is not ours): it is
ended ``KILLED`` only after a day without a metric (see
:data:`~modelcycle.tracking._store.LEGACY_RUN_TIMEOUT_MS`), unless it ends first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc

from modelcycle.core import Conflict, Settings, ValidationError, new_id, now_ms
from modelcycle.tracking._status import RUN_STATUSES
from modelcycle.tracking._store import TrackingStore
from modelcycle.tracking._validation import (
    check_experiment_name,
    check_key,
    check_metric_value,
    check_param_value,
    check_run_name,
    check_step,
)
from modelcycle.tracking._writer import MetricRecord, ParamRecord, Record

_RUN_ID = re.compile(r"[0-9a-f]{32}")
#: Widths of the run's text columns (``store/_tables.py``).
_GIT_COMMIT_CHARS, _USER_CHARS = 64, 250
#: Most values in one :meth:`RunRecorder.log_batch` (MLflow's own limits per batch).
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS = 1000, 100, 100


@dataclass(frozen=True)
class MetricValue:
    """One metric value as given: ``timestamp`` in ms since the epoch."""

    key: str
    value: float
    step: int = 0
    timestamp: int | None = None


def check_run_id(run_id: object) -> str:
    """Return ``run_id`` if it is 32 lowercase hexadecimal characters (ours and MLflow's)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        shown = run_id[:40] if isinstance(run_id, str) else run_id
        raise ValidationError(
            f"run id {shown!r} is not valid; expected 32 lowercase hexadecimal characters"
        )
    return run_id


def check_status(status: object) -> str:
    """Return ``status`` if it is one of :data:`RUN_STATUSES`."""
    if status not in RUN_STATUSES:
        raise ValidationError(
            f"run status {status!r} is not known; expected one of {', '.join(RUN_STATUSES)}"
        )
    return str(status)


def _time(what: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise ValidationError(
            f"{what} {value!r} is not valid; expected milliseconds since 1970 as a whole number"
        )
    return value


def _text(what: str, value: object, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        raise ValidationError(
            f"{what} {str(value)[:40]!r} is not valid; expected text"
            + (f" of at most {limit} characters" if limit is not None else "")
        )
    return value


class RunRecorder:
    """Records runs, and what they log, exactly as given (see the module docstring).

    Thread-safety: share freely; every method is one transaction.
    """

    def __init__(self, store: TrackingStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def record_run(
        self,
        experiment: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        status: str = "RUNNING",
        start_time: int | None = None,
        end_time: int | None = None,
        user: str | None = None,
        source: str | None = None,
        git_commit: str | None = None,
        parent_run_id: str | None = None,
        error: str | None = None,
        actor: str | None = None,
    ) -> str:
        """Create a run in ``experiment`` (created if needed); return its id.

        Raises
        ------
        ValidationError
            A value is not valid (named in the message).
        Conflict
            ``run_id`` is already a run of this workspace.
        NotFound
            ``parent_run_id`` is not a run of this workspace.
        """
        check_experiment_name(experiment)
        run_id = check_run_id(run_id) if run_id is not None else new_id()
        if self.store.run_rows([run_id]):
            raise Conflict(f"run {run_id} already exists in this workspace")
        row = {
            "run_id": run_id,
            "parent_run_id": check_run_id(parent_run_id) if parent_run_id else None,
            "name": check_run_name(name) if name is not None else f"run-{run_id[:8]}",
            "status": check_status(status),
            "start_time": _time("start_time", start_time) or now_ms(),
            "end_time": _time("end_time", end_time),
            "error": _text("error", error),
            "git_commit": _text("git commit", git_commit, _GIT_COMMIT_CHARS),
            "source": _text("source", source),
            "user_name": _text("user", user, _USER_CHARS),
            "heartbeat_at": None,  # the run's process is not ours: no heartbeat
        }
        row["experiment_id"] = self.store.get_or_create_experiment(experiment)
        self.store.create_run(row, actor=actor)
        return run_id

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> None:
        """Change a run's status, end time or name (``None``: keep)."""
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = check_status(status)
        if end_time is not None:
            values["end_time"] = _time("end_time", end_time)
        if name is not None:
            values["name"] = check_run_name(name)
        self.store.get_run_row(run_id)  # NotFound
        if values:
            self.store.update_run(run_id, values)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricValue] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate every value, then write them all in one transaction.

        A param already stored with another value is a :class:`Conflict` (params are
        immutable); the same value again is accepted. At most
        :data:`MAX_BATCH_METRICS` metrics, :data:`MAX_BATCH_PARAMS` params and
        :data:`MAX_BATCH_TAGS` tags per call.
        """
        params, tags = dict(params or {}), dict(tags or {})
        _check_sizes(len(metrics), len(params), len(tags))
        records: list[Record] = [self._metric(run_id, metric) for metric in metrics]
        records += self._values(run_id, "param", params)
        records += self._values(run_id, "tag", tags)
        stored = self.store.params_of(run_id) if params else {}
        for record in records:
            if isinstance(record, ParamRecord) and record.kind == "param":
                _check_unchanged(run_id, record, stored)
        if not records:
            self.store.get_run_row(run_id)  # NotFound
            return
        try:  # an unknown run breaks a foreign key: no read before every write
            self.store.write_batch(records)
        except sa_exc.IntegrityError:
            self.store.get_run_row(run_id)  # NotFound when that was the reason
            raise

    def _metric(self, run_id: str, metric: MetricValue) -> MetricRecord:
        key = check_key(metric.key, what="metric", max_length=self.settings.max_key_length)
        value = check_metric_value(key, metric.value)
        step = check_step(key, metric.step)
        timestamp = _time(f"metric {key!r} timestamp", metric.timestamp) or now_ms()
        return MetricRecord(run_id, key, value, step, timestamp)

    def _values(self, run_id: str, kind: str, values: dict[str, Any]) -> list[Record]:
        records: list[Record] = []
        for key, value in values.items():
            check_key(key, what=kind, max_length=self.settings.max_key_length)
            text = check_param_value(
                key, value, max_length=self.settings.max_param_length, what=kind
            )
            records.append(ParamRecord(kind, run_id, key, text))
        return records


def _check_sizes(metrics: int, params: int, tags: int) -> None:
    for what, count, limit in (
        ("metrics", metrics, MAX_BATCH_METRICS),
        ("params", params, MAX_BATCH_PARAMS),
        ("tags", tags, MAX_BATCH_TAGS),
    ):
        if count > limit:
            raise ValidationError(
                f"a batch holds {count} {what}; at most {limit} are accepted at once "
                "(send the rest in further batches)"
            )


def _check_unchanged(run_id: str, record: ParamRecord, stored: dict[str, str]) -> None:
    previous = stored.get(record.key)
    if previous is not None and previous != record.value:
        raise Conflict(
            f"param {record.key!r} of run {run_id} is already {previous[:100]!r}; cannot "
            f"change it to {record.value[:100]!r} (params are immutable: log a tag or start "
            "a new run)"
        )
