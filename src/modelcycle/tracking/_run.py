"""Runs: the read-only :class:`Run` and the :class:`ActiveRun` that logs into one."""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelcycle.core import Conflict, ValidationError, datetime_to_ms, ms_to_datetime, now_ms
from modelcycle.data import DatasetFingerprint, fingerprint
from modelcycle.tracking._validation import (
    check_key,
    check_metric_value,
    check_param_value,
    check_step,
)
from modelcycle.tracking._writer import MetricRecord, ParamRecord, Record

if TYPE_CHECKING:
    from modelcycle.packaging import Manifest
    from modelcycle.tracking._tracker import Tracker


@dataclass(frozen=True)
class Run:
    """A run as stored: what it is, what it logged, and where it came from.

    ``params``, ``tags`` and ``metrics`` (the latest value of each) are snapshots
    taken when the run was read; call :meth:`Tracker.get_run` again for fresh values.
    """

    run_id: str
    experiment: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    git_commit: str | None
    source: str | None
    user: str | None
    error: str | None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    _tracker: Tracker | None = field(default=None, repr=False, compare=False)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (``None`` while running)."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def metric_history(self, key: str) -> list[tuple[int, float, datetime]]:
        """Every ``(step, value, time)`` logged for metric ``key``, by step."""
        tracker = self._require_tracker()
        history = tracker.store.metric_history(self.run_id, key)
        return [(step, value, ms_to_datetime(ts)) for step, value, ts in history]  # type: ignore[misc]

    @property
    def datasets(self) -> list[dict[str, Any]]:
        """Datasets this run used: role, name, hash, rows, columns."""
        return self._require_tracker().store.datasets_of(self.run_id)

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        """Artifacts this run logged: path, sha256, size."""
        return self._require_tracker().store.artifacts_of(self.run_id)

    @property
    def children(self) -> list[Run]:
        """Child runs, oldest first."""
        tracker = self._require_tracker()
        return tracker.get_runs(tracker.store.children(self.run_id))

    def download_artifact(self, path: str, destination: str | os.PathLike[str]) -> Path:
        """Copy artifact ``path`` to ``destination``, verifying its SHA-256."""
        return self._require_tracker().download_artifact(self.run_id, path, destination)

    def read_artifact(self, path: str) -> bytes:
        """Return the verified bytes of artifact ``path``."""
        return self._require_tracker().read_artifact(self.run_id, path)

    def _require_tracker(self) -> Tracker:
        if self._tracker is None:
            raise ValidationError("this Run was built without a workspace; use ws.get_run()")
        return self._tracker

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (times as ISO 8601)."""
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "duration_s": self.duration_s,
            "parent_run_id": self.parent_run_id,
            "git_commit": self.git_commit,
            "source": self.source,
            "user": self.user,
            "error": self.error,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
        }


class ActiveRun:
    """A run being logged. Use it as a context manager::

        with ws.start_run(experiment="churn") as run:
            run.log_params({"lr": 0.1})
            run.log_metric("auc", 0.91, step=3)

    Leaving the block normally ends the run as ``FINISHED``; an exception ends it as
    ``FAILED`` with the error recorded (and re-raises); ``KeyboardInterrupt`` as
    ``KILLED``. Metric, param and tag calls are validated immediately and written in
    batches in the background.
    """

    def __init__(self, tracker: Tracker, run_id: str, experiment: str, name: str) -> None:
        self._tracker = tracker
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self._params: dict[str, str] = {}
        self._ended = False
        _OPEN_RUNS.add(self)

    def __repr__(self) -> str:
        return (
            f"ActiveRun(run_id={self.run_id!r}, experiment={self.experiment!r}, name={self.name!r})"
        )

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end()
        elif isinstance(exc, KeyboardInterrupt):
            self.end(status="KILLED", error="KeyboardInterrupt")
        else:
            summary = "".join(traceback.format_exception(exc_type, exc, tb)[-6:])
            self.end(status="FAILED", error=summary[-4000:])

    # -- logging ---------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int = 0, *, timestamp: int | None = None
    ) -> None:
        """Log one metric value at ``step`` (an integer, e.g. an epoch)."""
        self._log([self._metric(key, value, step, timestamp)])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log several metrics at the same step."""
        timestamp = now_ms()
        self._log([self._metric(k, v, step, timestamp) for k, v in _items(metrics, "metrics")])

    def log_param(self, key: str, value: Any) -> None:
        """Log one param; params are immutable once logged."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several params; logging the same key with another value raises ``Conflict``."""
        settings = self._tracker.settings
        records: list[Record] = []
        for key, value in _items(params, "params"):
            check_key(key, what="param", max_length=settings.max_key_length)
            text = check_param_value(key, value, max_length=settings.max_param_length)
            previous = self._params.get(key)
            if previous is not None and previous != text:
                raise Conflict(
                    f"param {key!r} of run {self.run_id} is already {previous!r}; cannot change "
                    f"it to {text!r} (params are immutable: log a tag or start a new run)"
                )
            records.append(ParamRecord("param", self.run_id, key, text))
        self._params.update({r.key: r.value for r in records if isinstance(r, ParamRecord)})
        self._log(records)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (tags, unlike params, may change)."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags."""
        settings = self._tracker.settings
        records: list[Record] = []
        for key, value in _items(tags, "tags"):
            check_key(key, what="tag", max_length=settings.max_key_length)
            text = check_param_value(key, value, max_length=settings.max_param_length, what="tag")
            records.append(ParamRecord("tag", self.run_id, key, text))
        self._log(records)

    def log_dataset(
        self, data: Any, *, role: str = "train", name: str | None = None
    ) -> DatasetFingerprint:
        """Fingerprint a table and record that this run used it in ``role``."""
        check_key(role, what="dataset role", max_length=32)
        dataset = data if isinstance(data, DatasetFingerprint) else fingerprint(data)
        self._tracker.store.link_dataset(self.run_id, dataset, role, name)
        return dataset

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> list[str]:
        """Store a file or a folder's files as artifacts; return the artifact paths recorded."""
        self._check_open()
        return self._tracker.log_artifact(self.run_id, Path(path), name)

    def log_model(
        self,
        model: Any,
        *,
        signature: Any,
        name: str = "model",
        flavor: str | None = None,
        trusted: bool = False,
        compile_onnx: bool = True,
    ) -> Manifest:
        """Save ``model`` as a model package and store it as artifacts under ``name/``.

        ``signature`` is a :class:`~modelcycle.packaging.Signature` or sample inputs to
        infer it from. The package is written in a safe format (skops, LightGBM text,
        XGBoost JSON); ``flavor="trusted"`` (your own classes) needs ``trusted=True``.
        A scikit-learn, LightGBM or XGBoost model is also compiled to ONNX when the
        compiled graph agrees with it (``compile_onnx=False`` skips that); an ONNX file
        (:class:`~modelcycle.packaging.OnnxModel`) is stored as is. Register it with
        ``ws.registry.register(run, name=...)``.
        """
        from modelcycle.packaging import save_model  # heavy (LightGBM, skops): load on use

        self._check_open()
        with tempfile.TemporaryDirectory(prefix="modelcycle-") as folder:
            package = Path(folder) / "package"
            manifest = save_model(
                model,
                package,
                signature=signature,
                flavor=flavor,
                trusted=trusted,
                compile_onnx=compile_onnx,
            )
            self._tracker.log_artifact(self.run_id, package, name)
        return manifest

    def log_text(self, text: str, name: str) -> str:
        """Store ``text`` as an artifact named ``name``."""
        self._check_open()
        return self._tracker.log_artifact_bytes(self.run_id, text.encode(), name)

    def start_child(
        self, name: str | None = None, *, start_time: datetime | None = None
    ) -> ActiveRun:
        """Start a child run in the same experiment (``start_time``: work begun earlier)."""
        return self._tracker.start_run(
            experiment=self.experiment, name=name, parent=self.run_id, start_time=start_time
        )

    def flush(self) -> None:
        """Write everything logged so far."""
        self._tracker.writer.flush()

    def end(
        self,
        status: str = "FINISHED",
        error: str | None = None,
        *,
        end_time: datetime | None = None,
    ) -> None:
        """Flush and end the run with ``status`` at ``end_time`` (default: now).

        Ending twice does nothing.
        """
        if self._ended:
            return
        self._ended = True
        _OPEN_RUNS.discard(self)
        self._tracker.heartbeat.discard(self.run_id)
        try:
            self._tracker.writer.flush()
        finally:
            ended = datetime_to_ms(end_time) if end_time is not None else None
            self._tracker.store.end_run(self.run_id, status, error, ended)

    def _metric(self, key: str, value: object, step: object, timestamp: int | None) -> MetricRecord:
        check_key(key, what="metric", max_length=self._tracker.settings.max_key_length)
        number = check_metric_value(key, value)
        return MetricRecord(self.run_id, key, number, check_step(key, step), timestamp or now_ms())

    def _log(self, records: list[Record]) -> None:
        self._check_open()
        if records:
            self._tracker.writer.add(records)

    def _check_open(self) -> None:
        if self._ended:
            raise ValidationError(f"run {self.run_id} has ended; start a new run to log more")


def _items(values: Mapping[str, Any], what: str) -> list[tuple[str, Any]]:
    if not isinstance(values, Mapping):
        raise ValidationError(
            f"{what} must be a mapping of name to value; got {type(values).__name__}"
        )
    return list(values.items())


# Process-wide on purpose: interpreter exit is process-wide. Ended runs remove themselves.
_OPEN_RUNS: set[ActiveRun] = set()


@atexit.register
def _end_open_runs() -> None:
    # Registered after the writer's exit hook, so it runs first (atexit is LIFO).
    for run in list(_OPEN_RUNS):
        with contextlib.suppress(Exception):  # exiting; the writer's hook reports write errors
            run.end()
