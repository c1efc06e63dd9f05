"""The worker's job queue in the workspace database, with leases so no job is lost or doubled.

A job moves ``queued`` → ``running`` (claimed by one owner, with a lease) → ``done`` or
``failed``; a failed attempt goes back to ``queued`` after a backoff until
``max_attempts`` is reached. A worker renews its lease while it works
(:meth:`JobQueue.heartbeat`); one that dies stops renewing, and the job can be claimed
again once the lease has expired, counting another attempt.

Thread-safety: a :class:`JobQueue` may be shared by threads and processes. A claim is
one conditional ``UPDATE`` whose row count says whether this caller won; on PostgreSQL
candidates are picked with ``FOR UPDATE SKIP LOCKED``, on SQLite the write transaction
(``BEGIN IMMEDIATE``) is exclusive. Returned :class:`Job` objects are immutable snapshots.

Examples
--------
>>> queue = JobQueue(workspace.db)  # doctest: +SKIP
>>> queue.enqueue("retrain", "churn", dedupe_key="retrain:churn").state  # doctest: +SKIP
'queued'
>>> job = queue.claim("worker-1", lease_s=30)  # doctest: +SKIP
>>> queue.complete(job.job_id, "worker-1", {"decision": "keep"})  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import NotFound, ValidationError, ms_to_datetime, new_id, now_ms
from modelcycle.records._locks import lock_key
from modelcycle.security._audit import canonical_json
from modelcycle.store import Database, tables

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)
_jobs = tables.jobs
_PICK = 8  # candidates looked at per claim (skipping ones that fail on expiry)


@dataclass(frozen=True)
class Job:
    """One job: what to do (``kind``, ``model``, ``payload``) and how it went."""

    job_id: str
    kind: str
    model: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    run_after: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    dedupe_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


class JobQueue:
    """Enqueue, claim, renew, finish and list jobs.

    Parameters
    ----------
    db:
        The workspace database.
    backoff_s, max_backoff_s:
        A failed attempt waits ``backoff_s * 2 ** (attempts - 1)`` seconds (at most
        ``max_backoff_s``) before it may run again.
    """

    def __init__(self, db: Database, *, backoff_s: float = 10.0, max_backoff_s: float = 600.0):
        self.db = db
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    # -- adding ---------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        model: str | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        run_after_ms: int | None = None,
        max_attempts: int = 3,
        dedupe_key: str | None = None,
    ) -> Job | None:
        """Add a job; with ``dedupe_key``, only if no queued or running job has that key.

        Returns the new job, or ``None`` when an unfinished job with the same key exists.
        The check and the insert run in one transaction, serialised per key.
        """
        _check_new(kind, max_attempts)
        now, job_id = now_ms(), new_id()
        row: dict[str, Any] = {
            "job_id": job_id,
            "kind": kind,
            "model": model,
            "payload": canonical_json(dict(payload or {}), what="job payload"),
            "state": QUEUED,
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now if run_after_ms is None else int(run_after_ms),
            "dedupe_key": dedupe_key,
            "created_at": now,
        }

        def work(connection: Connection) -> bool:
            if dedupe_key is not None:
                lock_key(connection, f"job:{dedupe_key}")
                if _unfinished(connection, dedupe_key):
                    return False
            connection.execute(sa.insert(_jobs).values(**row))
            return True

        return self.get(job_id) if self.db.transaction(work) else None

    # -- claiming and finishing ---------------------------------------------------------

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Take the oldest due job (queued, or running with an expired lease) for ``owner``.

        A job whose lease expired after its last allowed attempt is marked ``failed``
        (its worker died every time) instead of being run again.
        """
        _check_owner(owner, lease_s)

        def work(connection: Connection) -> str | None:
            now = now_ms()
            for candidate in _candidates(connection, now):
                if candidate.state == RUNNING and candidate.attempts >= candidate.max_attempts:
                    _give_up(connection, candidate, now)
                    continue
                if _take(connection, candidate.job_id, owner, now, lease_s):
                    return str(candidate.job_id)
            return None

        job_id = self.db.transaction(work)
        return None if job_id is None else self.get(job_id)

    def claim_job(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        """Claim one given job now, even if it is not yet due; ``None`` if it is not claimable.

        For running a job in-process (``modelcycle retrain --wait``).
        """
        _check_owner(owner, lease_s)

        def work(connection: Connection) -> bool:
            return _take(connection, job_id, owner, now_ms(), lease_s)

        return self.get(job_id) if self.db.transaction(work) else None

    def heartbeat(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend the lease of a job ``owner`` still holds; ``False`` if the lease was lost."""
        values = {"lease_expires_at": now_ms() + _lease_ms(lease_s)}
        return self._update_owned(job_id, owner, values)

    def complete(self, job_id: str, owner: str, result: Any = None) -> bool:
        """Mark a job ``done`` with its ``result``; ``False`` if ``owner`` lost the lease."""
        values = {
            "state": DONE,
            "result": canonical_json(result, what="job result"),
            "error": None,
            "lease_expires_at": None,
            "finished_at": now_ms(),
        }
        return self._update_owned(job_id, owner, values)

    def fail(self, job_id: str, owner: str, error: str) -> bool:
        """Record a failed attempt: back to ``queued`` after a backoff, or ``failed`` at the limit.

        Returns ``False`` if ``owner`` had lost the lease (the failure is then not recorded).
        """
        job = self.get(job_id)
        now = now_ms()
        values: dict[str, Any] = {"error": error[:10_000], "lease_expires_at": None}
        if job.attempts >= job.max_attempts:
            values |= {"state": FAILED, "finished_at": now}
        else:
            values |= {"state": QUEUED, "run_after": now + self._backoff_ms(job.attempts)}
        return self._update_owned(job_id, owner, values)

    def defer(
        self, job_id: str, owner: str, delay_s: float, payload: Mapping[str, Any] | None = None
    ) -> bool:
        """Put a job back in the queue to run again after ``delay_s``, not counting the attempt.

        For a job that found nothing to do yet (e.g. too few labels); ``payload`` replaces
        the job's payload when given.
        """
        values: dict[str, Any] = {
            "state": QUEUED,
            "attempts": _jobs.c.attempts - 1,
            "run_after": now_ms() + int(delay_s * 1000),
            "lease_expires_at": None,
        }
        if payload is not None:
            values["payload"] = canonical_json(dict(payload), what="job payload")
        return self._update_owned(job_id, owner, values)

    def release(self, job_id: str, owner: str) -> bool:
        """Give a claimed job back unfinished (a worker stopping), not counting the attempt."""
        return self.defer(job_id, owner, 0.0)

    def _update_owned(self, job_id: str, owner: str, values: Mapping[str, Any]) -> bool:
        statement = (
            sa.update(_jobs)
            .where(
                _jobs.c.job_id == job_id,
                _jobs.c.lease_owner == owner,
                _jobs.c.state == RUNNING,
            )
            .values(**values)
        )
        return self.db.transaction(lambda c: c.execute(statement).rowcount == 1)

    def _backoff_ms(self, attempts: int) -> int:
        seconds = min(self.backoff_s * 2 ** max(attempts - 1, 0), self.max_backoff_s)
        return int(seconds * 1000)

    # -- reading -----------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """One job by id.

        Raises
        ------
        NotFound
            No job has that id.
        """
        with self.db.read() as connection:
            row = connection.execute(sa.select(_jobs).where(_jobs.c.job_id == job_id)).first()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist; list jobs with 'modelcycle jobs'")
        return _job(row._mapping)

    def list(
        self,
        state: str | None = None,
        model: str | None = None,
        *,
        kind: str | None = None,
        limit: int | None = 50,
    ) -> list[Job]:
        """Jobs, newest first, filtered by state, model and kind."""
        if state is not None and state not in STATES:
            raise ValidationError(f"job state {state!r} is not known; expected one of {STATES}")
        query = sa.select(_jobs).order_by(_jobs.c.created_at.desc(), _jobs.c.job_id)
        for column, value in ((_jobs.c.state, state), (_jobs.c.model, model), (_jobs.c.kind, kind)):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as connection:
            return [_job(row._mapping) for row in connection.execute(query)]

    def prune(self, older_than_s: float) -> int:
        """Delete finished jobs (done or failed) that ended over ``older_than_s`` ago.

        The newest job of each kind and model is always kept, whatever its age: the
        scheduler spaces monitoring by it. Returns the number of jobs deleted.

        Examples
        --------
        >>> JobQueue(workspace.db).prune(7 * 86400)  # doctest: +SKIP
        288
        """
        if not isinstance(older_than_s, int | float) or not older_than_s >= 0:
            raise ValidationError(f"older_than_s is {older_than_s!r}; expected seconds >= 0")
        cutoff = now_ms() - int(older_than_s * 1000)
        newer = _jobs.alias("newer")
        newest = (
            sa.select(sa.func.max(newer.c.created_at))
            .where(newer.c.kind == _jobs.c.kind, newer.c.model.is_not_distinct_from(_jobs.c.model))
            .scalar_subquery()
        )
        statement = sa.delete(_jobs).where(
            _jobs.c.state.in_((DONE, FAILED)),
            _jobs.c.finished_at < cutoff,
            _jobs.c.created_at < newest,
        )
        return int(self.db.transaction(lambda c: c.execute(statement).rowcount))

    def latest(self, kind: str, model: str | None) -> Job | None:
        """The most recently created job of ``kind`` for ``model``, in any state."""
        found = self.list(model=model, kind=kind, limit=1)
        return found[0] if found else None


def _check_new(kind: str, max_attempts: int) -> None:
    if not isinstance(kind, str) or not kind or len(kind) > 32:
        raise ValidationError(f"job kind {kind!r} is not valid; expected 1 to 32 characters")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValidationError(f"max_attempts is {max_attempts!r}; expected an integer >= 1")


def _check_owner(owner: str, lease_s: float) -> None:
    if not isinstance(owner, str) or not owner or len(owner) > 100:
        raise ValidationError(f"lease owner {owner!r} is not valid; expected 1 to 100 characters")
    if not isinstance(lease_s, int | float) or not math.isfinite(lease_s) or lease_s <= 0:
        raise ValidationError(f"lease of {lease_s!r} seconds is not valid; expected > 0")


def _lease_ms(lease_s: float) -> int:
    return max(1, int(lease_s * 1000))


def _unfinished(connection: Connection, dedupe_key: str) -> bool:
    query = (
        sa.select(_jobs.c.job_id)
        .where(_jobs.c.dedupe_key == dedupe_key, _jobs.c.state.in_((QUEUED, RUNNING)))
        .limit(1)
    )
    return connection.execute(query).first() is not None


def _claimable(now: int) -> sa.ColumnElement[bool]:
    expired = sa.and_(_jobs.c.state == RUNNING, _jobs.c.lease_expires_at < now)
    return sa.or_(_jobs.c.state == QUEUED, expired)


def _candidates(connection: Connection, now: int) -> list[Any]:
    query = (
        sa.select(_jobs.c.job_id, _jobs.c.state, _jobs.c.attempts, _jobs.c.max_attempts)
        .where(_jobs.c.run_after <= now, _claimable(now))
        .order_by(_jobs.c.run_after, _jobs.c.created_at, _jobs.c.job_id)
        .limit(_PICK)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(connection.execute(query))


def _take(connection: Connection, job_id: str, owner: str, now: int, lease_s: float) -> bool:
    """The one conditional update that claims a job; ``True`` if this caller won it."""
    statement = (
        sa.update(_jobs)
        .where(_jobs.c.job_id == job_id, _claimable(now))
        .values(
            state=RUNNING,
            attempts=_jobs.c.attempts + 1,
            lease_owner=owner,
            lease_expires_at=now + _lease_ms(lease_s),
            started_at=now,
        )
    )
    return connection.execute(statement).rowcount == 1


def _give_up(connection: Connection, job: Any, now: int) -> None:
    reason = (
        f"the worker running attempt {job.attempts} of {job.max_attempts} stopped renewing its "
        "lease (it died or was killed); no attempts left"
    )
    statement = (
        sa.update(_jobs)
        .where(_jobs.c.job_id == job.job_id, _claimable(now))
        .values(state=FAILED, error=reason, lease_expires_at=None, finished_at=now)
    )
    connection.execute(statement)


def _job(row: Any) -> Job:
    run_after, created = ms_to_datetime(row["run_after"]), ms_to_datetime(row["created_at"])
    assert run_after is not None and created is not None
    return Job(
        job_id=row["job_id"],
        kind=row["kind"],
        model=row["model"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        run_after=run_after,
        lease_owner=row["lease_owner"],
        lease_expires_at=ms_to_datetime(row["lease_expires_at"]),
        dedupe_key=row["dedupe_key"],
        created_at=created,
        started_at=ms_to_datetime(row["started_at"]),
        finished_at=ms_to_datetime(row["finished_at"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
    )
