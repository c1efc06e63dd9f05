"""The worker: schedules what the policies ask for, then claims and runs jobs one at a time.

Any number of workers (threads, processes, machines on one PostgreSQL workspace) may
run at once: each job is claimed by exactly one of them with a lease, renewed from a
background thread while the job runs. A worker that dies stops renewing; its job is
claimed again once the lease expires (another attempt), so nothing is lost.

Examples
--------
>>> worker = workspace.worker(lease_s=30)  # doctest: +SKIP
>>> worker.run(until_idle=True)  # run every due job, then return  # doctest: +SKIP
2
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelcycle.core import Conflict, ModelcycleError, ValidationError, new_id
from modelcycle.lifecycle._context import Defer, Handler, JobContext, Loop, TrainFn, json_safe
from modelcycle.lifecycle._policy_store import PolicyStore
from modelcycle.lifecycle._schedule import schedule
from modelcycle.lifecycle._tasks import DEFAULT_HANDLERS
from modelcycle.records import Job
from modelcycle.services import Services

if TYPE_CHECKING:
    import pandas as pd

_LOG = logging.getLogger("modelcycle.worker")

#: How often a worker deletes finished jobs older than ``keep_jobs_s``.
_PRUNE_EVERY_S = 3600.0

#: ``on_event(event, job, detail)``; events: ``scheduled``, ``started``, ``done``,
#: ``failed``, ``retry``, ``deferred``, ``released``, ``lease-lost``.
EventHook = Callable[[str, Job, str], None]


class Worker:
    """Runs the lifecycle jobs of one workspace.

    Parameters
    ----------
    services:
        The workspace's services (its job queue, registry, logs...).
    train_fn:
        Trains and registers a model (the workspace's ``train``); needed by ``retrain`` jobs.
    read_fn:
        Reads a window of the prediction log for ``monitor`` jobs (default
        :func:`~modelcycle.monitoring.read_predictions`, in this process).
    owner:
        This worker's name in leases (default: host, process id and a random suffix).
    lease_s:
        How long a claim lasts without renewal; it is renewed every ``lease_s / 3``.
    poll_s:
        Pause between looks at an empty queue.
    schedule_s:
        Least time between two scheduling passes over the policies.
    keep_jobs_s:
        Finished jobs older than this are deleted (checked hourly; the newest job of
        each kind and model is kept). ``None`` keeps every job.
    handlers:
        Extra or replacement job handlers by kind (see :mod:`modelcycle.lifecycle._context`).
    on_event:
        Called with ``(event, job, detail)`` as jobs move (the CLI prints these).
    """

    def __init__(
        self,
        services: Services,
        *,
        train_fn: TrainFn | None = None,
        read_fn: Callable[..., pd.DataFrame] | None = None,
        owner: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        schedule_s: float = 10.0,
        keep_jobs_s: float | None = 7 * 86400.0,
        handlers: Mapping[str, Handler] | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        if not lease_s > 0 or not poll_s > 0:
            raise ValidationError(f"lease_s={lease_s!r}, poll_s={poll_s!r}; both must be > 0")
        self.queue = services.jobs
        self.loop = Loop(services, PolicyStore(services.db), train_fn, read_fn)
        self.owner = owner or default_owner()
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.schedule_s = schedule_s
        self.handlers: dict[str, Handler] = {**DEFAULT_HANDLERS, **dict(handlers or {})}
        self.on_event = on_event
        self.keep_jobs_s = keep_jobs_s
        self._last_schedule: float | None = None
        self._last_prune: float | None = None

    def __repr__(self) -> str:
        kinds = sorted(self.handlers)
        return f"Worker(owner={self.owner!r}, lease_s={self.lease_s}, kinds={kinds})"

    # -- the loop ----------------------------------------------------------------------

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_jobs: int | None = None,
        until_idle: bool = False,
    ) -> int:
        """Run jobs until ``stop`` is set, ``max_jobs`` ran, or (``until_idle``) none is due.

        Returns the number of jobs run. A job in progress always finishes first.
        """
        stop = stop or threading.Event()
        ran = 0
        while not stop.is_set() and (max_jobs is None or ran < max_jobs):
            if self.run_once() is not None:
                ran += 1
            elif until_idle:
                break
            else:
                stop.wait(self.poll_s)
        return ran

    def run_once(self) -> Job | None:
        """Schedule due policy jobs, then claim and run one job; ``None`` if none was due."""
        self.schedule()
        job = self.queue.claim(self.owner, self.lease_s)
        return None if job is None else self.execute(job)

    def schedule(self, *, force: bool = False) -> list[Job]:
        """Enqueue what the policies say is due (at most once per ``schedule_s``)."""
        now = time.monotonic()
        recent = self._last_schedule is not None and now - self._last_schedule < self.schedule_s
        if recent and not force:
            return []
        self._last_schedule = now
        self._prune(now)
        created = schedule(self.loop)
        for job in created:
            self._emit("scheduled", job, job.payload.get("trigger", ""))
        return created

    def _prune(self, now: float) -> None:
        """Delete old finished jobs, at most once an hour (a lasting queue stays small)."""
        if self.keep_jobs_s is None:
            return
        if self._last_prune is not None and now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        deleted = self.queue.prune(self.keep_jobs_s)
        if deleted:
            _LOG.info("deleted %d finished job(s) older than %.0f s", deleted, self.keep_jobs_s)

    def run_job(self, job_id: str) -> Job:
        """Claim one given job now (due or not) and run it here.

        Raises
        ------
        Conflict
            Another worker holds the job, or it has finished.
        """
        job = self.queue.claim_job(job_id, self.owner, self.lease_s)
        if job is None:
            state = self.queue.get(job_id).state
            raise Conflict(
                f"job {job_id} is {state} and cannot be claimed here; see 'modelcycle jobs'"
            )
        return self.execute(job)

    # -- one job -------------------------------------------------------------------------

    def execute(self, job: Job) -> Job:
        """Run a job this worker has claimed, renewing its lease; record how it ended."""
        lost, stop_beat = threading.Event(), threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(job, lost, stop_beat),
            name=f"lease-{job.job_id[:8]}",
            daemon=True,
        )
        self._emit("started", job, f"attempt {job.attempts}/{job.max_attempts}")
        beat.start()
        try:
            outcome = self._call(job, JobContext(job, self.loop, lost))
        except BaseException:  # Ctrl-C or exit: hand the job back unfinished
            stop_beat.set()
            beat.join()
            if self.queue.release(job.job_id, self.owner):
                self._emit("released", job, "stopped before it finished")
            raise
        stop_beat.set()
        beat.join()
        return self._record(job, outcome, lost)

    def _call(self, job: Job, context: JobContext) -> tuple[str, Any]:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise ValidationError(
                    f"no handler for job kind {job.kind!r}; this worker runs "
                    f"{sorted(self.handlers)}"
                )
            return ("done", json_safe(handler(context)))
        except Defer as deferred:
            return ("defer", deferred)
        except Exception as error:
            if not isinstance(error, ModelcycleError):
                _LOG.exception("job %s (%s) failed", job.job_id, job.kind)
            return ("fail", _error_text(error))

    def _record(self, job: Job, outcome: tuple[str, Any], lost: threading.Event) -> Job:
        kind, value = outcome
        if kind == "done":
            kept = self.queue.complete(job.job_id, self.owner, value)
        elif kind == "defer":
            kept = self.queue.defer(job.job_id, self.owner, value.delay_s, value.payload)
        else:
            kept = self.queue.fail(job.job_id, self.owner, value)
        finished = self.queue.get(job.job_id)
        if not kept:
            self._emit("lease-lost", finished, "another worker took the job; outcome discarded")
        elif kind == "done":
            self._emit("done", finished, _summary(value))
        elif kind == "defer":
            self._emit("deferred", finished, value.reason)
        else:
            event = "failed" if finished.state == "failed" else "retry"
            self._emit(event, finished, value)
        return finished

    def _heartbeat(self, job: Job, lost: threading.Event, stop: threading.Event) -> None:
        interval = max(self.lease_s / 3.0, 0.05)
        while not stop.wait(interval):
            try:
                renewed = self.queue.heartbeat(job.job_id, self.owner, self.lease_s)
            except Exception:  # a database hiccup: try again at the next beat
                _LOG.warning("could not renew the lease on job %s", job.job_id, exc_info=True)
                continue
            if not renewed:
                lost.set()
                return

    def _emit(self, event: str, job: Job, detail: str) -> None:
        _LOG.info("%s %s %s %s", event, job.kind, job.model or "-", detail)
        if self.on_event is not None:
            self.on_event(event, job, detail)


def default_owner() -> str:
    """``host:pid:random`` — unique per worker, readable in ``modelcycle jobs``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{new_id()[:6]}"


def _error_text(error: BaseException) -> str:
    if isinstance(error, ModelcycleError):
        return f"{type(error).__name__}: {error.message}"
    return f"{type(error).__name__}: {error}"


def _summary(result: Any) -> str:
    if isinstance(result, Mapping):
        keys = ("outcome", "decision", "version")
        parts = [f"{k}={result[k]}" for k in keys if k in result]
        if isinstance(result.get("alerts"), list):
            parts.append(f"alerts={len(result['alerts'])}")
        return " ".join(parts)
    return "" if result is None else str(result)[:200]
