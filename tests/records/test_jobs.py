"""The job queue on SQLite and PostgreSQL: dedupe, leases, retries, and no job done twice."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.core import NotFound, ValidationError, now_ms
from modelcycle.records import DONE, FAILED, QUEUED, RUNNING, JobQueue
from modelcycle.store import tables


@pytest.fixture
def queue(workspace: mc.Workspace) -> JobQueue:
    return JobQueue(workspace.db, backoff_s=0.0)


def _expire(queue: JobQueue, job_id: str) -> None:
    """Make a running job's lease lapse, as if its worker stopped renewing it."""
    statement = (
        sa.update(tables.jobs)
        .where(tables.jobs.c.job_id == job_id)
        .values(lease_expires_at=now_ms() - 1)
    )
    queue.db.transaction(lambda c: c.execute(statement))


def test_enqueue_claim_complete(queue: JobQueue) -> None:
    job = queue.enqueue("monitor", "churn", {"trigger": "manual"})
    assert job is not None
    assert (job.state, job.attempts, job.max_attempts, job.payload) == (
        QUEUED,
        0,
        3,
        {"trigger": "manual"},
    )
    claimed = queue.claim("w1", lease_s=30)
    assert claimed is not None and claimed.job_id == job.job_id
    assert (claimed.state, claimed.attempts, claimed.lease_owner) == (RUNNING, 1, "w1")
    assert claimed.lease_expires_at is not None and claimed.started_at is not None
    assert queue.claim("w2", lease_s=30) is None  # nothing else is due
    assert queue.heartbeat(job.job_id, "w1", 30) is True
    assert queue.heartbeat(job.job_id, "w2", 30) is False  # not the owner
    assert queue.complete(job.job_id, "w2", {"x": 1}) is False
    assert queue.complete(job.job_id, "w1", {"alerts": 2}) is True
    done = queue.get(job.job_id)
    assert (done.state, done.result, done.finished_at is not None) == (DONE, {"alerts": 2}, True)
    assert queue.heartbeat(job.job_id, "w1", 30) is False  # finished jobs have no lease


def test_jobs_run_oldest_due_first_and_not_before_run_after(queue: JobQueue) -> None:
    now = now_ms()
    later = queue.enqueue("a", run_after_ms=now + 60_000)
    second = queue.enqueue("c", run_after_ms=now - 1)
    first = queue.enqueue("b", run_after_ms=now - 2)
    assert later and first and second
    claimed = [queue.claim("w", 30) for _ in range(3)]
    assert [job.job_id if job else None for job in claimed] == [first.job_id, second.job_id, None]
    assert {j.kind for j in queue.list()} == {"a", "b", "c"}
    assert [j.kind for j in queue.list(state=QUEUED)] == ["a"]
    assert [j.kind for j in queue.list(state=RUNNING, limit=1)] in (["b"], ["c"])
    assert queue.list(model="nobody") == []


def test_dedupe_keeps_one_unfinished_job_per_key(queue: JobQueue) -> None:
    first = queue.enqueue("retrain", "churn", dedupe_key="retrain:churn")
    assert first is not None
    assert queue.enqueue("retrain", "churn", dedupe_key="retrain:churn") is None
    assert queue.enqueue("retrain", "other", dedupe_key="retrain:other") is not None
    claimed = queue.claim("w", 30)
    assert claimed is not None and claimed.job_id == first.job_id
    assert queue.enqueue("retrain", "churn", dedupe_key="retrain:churn") is None  # running
    queue.complete(first.job_id, "w", None)
    again = queue.enqueue("retrain", "churn", dedupe_key="retrain:churn")
    assert again is not None and again.job_id != first.job_id


def test_dedupe_holds_under_concurrent_enqueues(queue: JobQueue) -> None:
    barrier = threading.Barrier(8)
    made: list[bool] = []

    def add() -> None:
        barrier.wait()
        for _ in range(5):
            made.append(queue.enqueue("retrain", "churn", dedupe_key="retrain:churn") is not None)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.count(True) == 1 and len(made) == 40
    assert len(queue.list(model="churn")) == 1


def test_failures_retry_with_backoff_then_fail(workspace: mc.Workspace) -> None:
    queue = JobQueue(workspace.db, backoff_s=60.0)
    job = queue.enqueue("retrain", "churn", max_attempts=2)
    assert job is not None
    assert queue.claim("w", 30) is not None
    assert queue.fail(job.job_id, "w", "ValidationError: no data") is True
    retrying = queue.get(job.job_id)
    assert (retrying.state, retrying.attempts, retrying.error) == (
        QUEUED,
        1,
        "ValidationError: no data",
    )
    wait_ms = retrying.run_after.timestamp() * 1000 - now_ms()
    assert 50_000 < wait_ms <= 60_000  # backoff_s * 2 ** 0, not yet due
    assert queue.claim("w", 30) is None
    statement = sa.update(tables.jobs).values(run_after=now_ms())
    workspace.db.transaction(lambda c: c.execute(statement))
    assert queue.claim("w", 30) is not None
    assert queue.fail(job.job_id, "w", "ValidationError: still no data") is True
    failed = queue.get(job.job_id)
    assert (failed.state, failed.attempts, failed.finished_at is not None) == (FAILED, 2, True)


def test_an_expired_lease_is_taken_over_and_counted(queue: JobQueue) -> None:
    job = queue.enqueue("sleep", max_attempts=2)
    assert job is not None
    assert queue.claim("dead", lease_s=30) is not None
    assert queue.claim("alive", lease_s=30) is None  # the lease still holds
    _expire(queue, job.job_id)
    taken = queue.claim("alive", lease_s=30)
    assert taken is not None and (taken.lease_owner, taken.attempts) == ("alive", 2)
    assert queue.heartbeat(job.job_id, "dead", 30) is False  # the old owner learns it lost
    assert queue.complete(job.job_id, "dead", "late") is False
    _expire(queue, job.job_id)
    assert queue.claim("third", lease_s=30) is None  # no attempts left: failed instead
    failed = queue.get(job.job_id)
    assert failed.state == FAILED
    assert failed.error is not None and "attempt 2 of 2 stopped renewing its lease" in failed.error


def test_defer_and_release_do_not_count_an_attempt(queue: JobQueue) -> None:
    job = queue.enqueue("check", "churn", {"version": 2})
    assert job is not None
    queue.claim("w", 30)
    assert queue.defer(job.job_id, "w", 3600, {"version": 2, "seen": 10}) is True
    deferred = queue.get(job.job_id)
    assert (deferred.state, deferred.attempts, deferred.payload["seen"]) == (QUEUED, 0, 10)
    assert queue.claim("w", 30) is None  # not due for an hour
    statement = sa.update(tables.jobs).values(run_after=now_ms())
    queue.db.transaction(lambda c: c.execute(statement))
    queue.claim("w", 30)
    assert queue.release(job.job_id, "w") is True
    assert queue.get(job.job_id).attempts == 0
    assert queue.claim("w", 30) is not None


def test_two_claimers_never_get_the_same_job(queue: JobQueue) -> None:
    ids = {job.job_id for job in (queue.enqueue("n", payload={"i": i}) for i in range(50)) if job}
    assert len(ids) == 50
    done: Counter[str] = Counter()
    owners: dict[str, str] = {}
    lock = threading.Lock()

    def work(owner: str) -> None:
        while (job := queue.claim(owner, lease_s=30)) is not None:
            assert queue.complete(job.job_id, owner, {"by": owner})
            with lock:
                done[job.job_id] += 1
                owners[job.job_id] = owner

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(done) == ids and set(done.values()) == {1}
    jobs = queue.list(limit=None)
    assert {j.state for j in jobs} == {DONE} and len(jobs) == 50
    assert all(j.attempts == 1 and j.result == {"by": owners[j.job_id]} for j in jobs)


def test_bad_arguments_are_refused(queue: JobQueue) -> None:
    with pytest.raises(ValidationError, match="job kind ''"):
        queue.enqueue("")
    with pytest.raises(ValidationError, match="max_attempts is 0"):
        queue.enqueue("x", max_attempts=0)
    with pytest.raises(ValidationError, match="lease of 0 seconds"):
        queue.claim("w", 0)
    with pytest.raises(ValidationError, match="job state 'finished' is not known"):
        queue.list(state="finished")
    with pytest.raises(NotFound, match="job 'nope' does not exist"):
        queue.get("nope")
    with pytest.raises(ValidationError, match="job payload"):
        queue.enqueue("x", payload={"bad": float("nan")})


def _finish(queue: JobQueue, kind: str, model: str | None, *, age_s: float) -> str:
    """A finished job of ``kind`` that ended ``age_s`` seconds ago."""
    job = queue.enqueue(kind, model)
    assert job is not None
    claimed = queue.claim_job(job.job_id, "w", 30)
    assert claimed is not None and queue.complete(job.job_id, "w", {})
    ended = now_ms() - int(age_s * 1000)
    statement = (
        sa.update(tables.jobs)
        .where(tables.jobs.c.job_id == job.job_id)
        .values(finished_at=ended, created_at=ended - 10)
    )
    queue.db.transaction(lambda c: c.execute(statement))
    return job.job_id


def test_prune_deletes_old_finished_jobs_but_keeps_the_newest_of_each_kind(
    queue: JobQueue,
) -> None:
    old = [_finish(queue, "monitor", "churn", age_s=86_400 - i) for i in range(3)]
    other_model = _finish(queue, "monitor", "fraud", age_s=90_000)
    no_model = _finish(queue, "sleep", None, age_s=90_000)
    recent = _finish(queue, "monitor", "churn", age_s=60)
    waiting = queue.enqueue("retrain", "churn")
    assert waiting is not None

    assert queue.prune(3600) == 3  # the three old churn monitors
    left = {job.job_id for job in queue.list(limit=None)}
    assert left == {other_model, no_model, recent, waiting.job_id}
    assert not left & set(old)
    assert queue.prune(3600) == 0
    with pytest.raises(ValidationError, match="older_than_s"):
        queue.prune(-1)
