"""Layer 3: what the workspace records about its work — training runs and the job queue.

A training run's params, tags and artifacts are written and read only through
:class:`TrainingRecorder` and :class:`TrainingRecord`; the worker's jobs only through
:class:`JobQueue`. Readers get typed values, never artifact names.

Examples
--------
>>> Validation.of([]).status
'passed'
"""

from __future__ import annotations

from modelcycle.records._jobs import DONE, FAILED, QUEUED, RUNNING, STATES, Job, JobQueue
from modelcycle.records._locks import lock_key
from modelcycle.records._training import (
    FAILING_CODES,
    TrainingFacts,
    TrainingRecord,
    TrainingRecorder,
    Validation,
)

__all__ = [
    "DONE",
    "FAILED",
    "FAILING_CODES",
    "QUEUED",
    "RUNNING",
    "STATES",
    "Job",
    "JobQueue",
    "TrainingFacts",
    "TrainingRecord",
    "TrainingRecorder",
    "Validation",
    "lock_key",
]
