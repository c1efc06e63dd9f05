"""Layer 3 tracking: experiments, runs, params, metrics, tags, datasets and artifacts."""

from __future__ import annotations

from modelcycle.tracking._filter import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_FILTER_TERMS,
    parse_filter,
)
from modelcycle.tracking._mlflow_names import MLFLOW, MlflowNames
from modelcycle.tracking._recorder import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MetricValue,
    RunRecorder,
    check_run_id,
)
from modelcycle.tracking._run import ActiveRun, Run
from modelcycle.tracking._status import RUN_STATUSES, RunStatus
from modelcycle.tracking._store import TrackingStore
from modelcycle.tracking._tracker import DEFAULT_EXPERIMENT, Tracker

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MAX_BATCH_METRICS",
    "MAX_BATCH_PARAMS",
    "MAX_BATCH_TAGS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_TERMS",
    "MLFLOW",
    "RUN_STATUSES",
    "ActiveRun",
    "MetricValue",
    "MlflowNames",
    "Run",
    "RunRecorder",
    "RunStatus",
    "Tracker",
    "TrackingStore",
    "check_run_id",
    "parse_filter",
]
