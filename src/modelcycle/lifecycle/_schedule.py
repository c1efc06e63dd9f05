"""Turning policies into due jobs: monitoring every so often, retraining when it is time.

The job rows themselves are the schedule: the next ``monitor`` job runs ``every`` after
the previous one was due, and a scheduled retrain is due ``retraining.every`` after the
last retrain (or after the champion was registered). Dedupe keys keep at most one
queued or running ``monitor`` and ``retrain`` job per model, so any number of workers
may schedule at once.
"""

from __future__ import annotations

import logging

from modelcycle.core import NotFound, now_ms
from modelcycle.lifecycle._context import Loop
from modelcycle.lifecycle._labelled import labelled_rows
from modelcycle.lifecycle._policy import Policy
from modelcycle.monitoring import count_feedback
from modelcycle.records import QUEUED, RUNNING, Job
from modelcycle.registry import CHAMPION, ModelVersion
from modelcycle.services import Services

_LOG = logging.getLogger("modelcycle.worker")


def schedule(loop: Loop) -> list[Job]:
    """Enqueue every job the stored policies make due now; return the new ones.

    A policy whose scheduling fails (an unreadable log) is skipped with a warning, so one
    model never stops the others' work.
    """
    created: list[Job] = []
    for policy in loop.policies.list():
        for due in (monitor_due, retrain_due):
            try:
                job = due(loop.services, policy)
            except Exception:
                _LOG.warning(
                    "scheduling %s for %r failed", due.__name__, policy.model, exc_info=True
                )
                continue
            if job is not None:
                created.append(job)
    return created


def monitor_due(services: Services, policy: Policy) -> Job | None:
    """The next ``monitor`` job, ``every`` after the last one was due (or now)."""
    queue, model = services.jobs, policy.model
    last = queue.latest("monitor", model)
    if last is not None and last.state in (QUEUED, RUNNING):
        return None
    now = now_ms()
    run_after = now
    if last is not None:
        due = int(last.run_after.timestamp() * 1000) + int(policy.monitoring.every_s * 1000)
        run_after = max(now, due)
    return queue.enqueue(
        "monitor",
        model,
        {"trigger": "schedule"},
        run_after_ms=run_after,
        dedupe_key=f"monitor:{model}",
    )


def retrain_due(services: Services, policy: Policy) -> Job | None:
    """A ``retrain`` job when the schedule or the count of new labels says so."""
    retraining = policy.retraining
    if retraining is None or (retraining.every is None and retraining.new_labels is None):
        return None
    queue, model = services.jobs, policy.model
    last = queue.latest("retrain", model)
    if last is not None and last.state in (QUEUED, RUNNING):
        return None
    champion = _champion(services, model)
    since = _since(last, champion)
    now = now_ms()
    every = retraining.every_s
    payload: dict[str, object] | None = None
    if every is not None and now >= (since or 0) + int(every * 1000):
        payload = {"trigger": "schedule", "every": retraining.every}
    elif retraining.new_labels is not None and champion is not None:
        # Labels logged since then bound the labelled rows predicted since then from
        # above: count them first, and join with the prediction log only when it matters.
        count = count_feedback(services.layout, model, since=since)
        if count >= retraining.new_labels:
            count = len(labelled_rows(services.layout, model, None, since_ms=since))
        if count >= retraining.new_labels:
            payload = {"trigger": "new_labels", "labelled_rows": count}
    if payload is None:
        return None
    return queue.enqueue("retrain", model, payload, dedupe_key=f"retrain:{model}")


def _champion(services: Services, model: str) -> ModelVersion | None:
    try:
        return services.registry.resolve(f"{model}@{CHAMPION}")
    except NotFound:
        return None


def _since(last: Job | None, champion: ModelVersion | None) -> int | None:
    """When the current training data was fixed: the last retrain, else the champion."""
    if last is not None:
        return int(last.created_at.timestamp() * 1000)
    if champion is not None:
        return int(champion.created_at.timestamp() * 1000)
    return None
