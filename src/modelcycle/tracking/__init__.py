"""Layer 3 tracking: experiments, runs, params, metrics, tags, datasets and artifacts."""

from __future__ import annotations

from modelcycle.tracking._filter import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_FILTER_TERMS,
    parse_filter,
)
from modelcycle.tracking._run import ActiveRun, Run
from modelcycle.tracking._status import RUN_STATUSES, RunStatus
from modelcycle.tracking._store import TrackingStore
from modelcycle.tracking._tracker import DEFAULT_EXPERIMENT, Tracker

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_TERMS",
    "RUN_STATUSES",
    "ActiveRun",
    "Run",
    "RunStatus",
    "Tracker",
    "TrackingStore",
    "parse_filter",
]
