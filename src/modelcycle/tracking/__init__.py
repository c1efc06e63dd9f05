"""Layer 3 tracking: experiments, runs, params, metrics, tags, datasets and artifacts."""

from __future__ import annotations

from modelcycle.tracking._filter import parse_filter
from modelcycle.tracking._run import ActiveRun, Run
from modelcycle.tracking._store import RUN_STATUSES, TrackingStore
from modelcycle.tracking._tracker import DEFAULT_EXPERIMENT, Tracker

__all__ = [
    "DEFAULT_EXPERIMENT",
    "RUN_STATUSES",
    "ActiveRun",
    "Run",
    "Tracker",
    "TrackingStore",
    "parse_filter",
]
