"""Layer 4: the closed loop — policies, the job queue, the worker, champion against challenger.

A :class:`Policy` per model says how often to monitor it, which alerts retrain it, where
its training data is, and how a retrained model (the *challenger*) must beat the
*champion* on recent labelled rows before it replaces it. A :class:`Worker` carries this
out by running jobs from the workspace's job queue (:class:`modelcycle.records.JobQueue`),
with leases, so
several workers share the work and a dead worker's job is taken over by another.

Examples
--------
>>> from modelcycle.lifecycle import Policy
>>> policy = Policy.from_mapping({
...     "model": "churn",
...     "monitoring": {"every": "5m", "alerts": [{"name": "drift", "rule": "psi > 0.2"}]},
...     "retraining": {"source": "churn.csv", "on_alerts": ["drift"], "budget": 60},
... })
>>> policy.retraining.mode, policy.monitoring.alert_names
('promote', ['drift'])
"""

from __future__ import annotations

from modelcycle.lifecycle._compare import Comparison, paired_bootstrap
from modelcycle.lifecycle._context import (
    WORKER_ACTOR,
    Defer,
    Handler,
    JobContext,
    LeaseLost,
    Loop,
    TrainFn,
)
from modelcycle.lifecycle._policy import MonitoringPolicy, Policy, RetrainingPolicy, RollbackPolicy
from modelcycle.lifecycle._policy_store import PolicyStore, StoredPolicy
from modelcycle.lifecycle._tasks import DEFAULT_HANDLERS
from modelcycle.lifecycle._worker import EventHook, Worker, default_owner

__all__ = [
    "DEFAULT_HANDLERS",
    "WORKER_ACTOR",
    "Comparison",
    "Defer",
    "EventHook",
    "Handler",
    "JobContext",
    "LeaseLost",
    "Loop",
    "MonitoringPolicy",
    "Policy",
    "PolicyStore",
    "RetrainingPolicy",
    "RollbackPolicy",
    "StoredPolicy",
    "TrainFn",
    "Worker",
    "default_owner",
    "paired_bootstrap",
]
