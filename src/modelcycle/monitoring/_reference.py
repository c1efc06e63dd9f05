"""What a model version is compared against: its training profile, holdout and importances.

``ws.train`` stores, with each version's run, the training profile (``profile.json``),
the evaluation report (``evaluation/evaluation.json``: holdout metrics and permutation
importance) and the holdout predictions (``holdout_predictions.parquet``: the true
class or value and the predicted probabilities or values). :func:`load_reference`
gathers them; a model a user logged without them gets empty parts, never an error.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from modelcycle.core import ModelRef, Task
from modelcycle.data import Profile
from modelcycle.evaluation import EvaluationReport, default_metric
from modelcycle.packaging import Signature
from modelcycle.registry import Registry
from modelcycle.tracking import Run

#: Run artifact holding the holdout labels and predictions of a trained version.
HOLDOUT_ARTIFACT = "holdout_predictions.parquet"
PROFILE_ARTIFACT = "profile.json"
REPORT_ARTIFACT = "evaluation/evaluation.json"


@dataclass(frozen=True, eq=False)
class VersionReference:
    """A version's reference for monitoring.

    Attributes
    ----------
    name, version:
        The model version.
    task, classes, signature:
        What the model predicts; ``classes`` in the order of its probabilities.
    profile:
        The training data profile (drift reference), or ``None``.
    holdout:
        Holdout rows: ``y`` (class index, or the value for regression) and
        ``proba_0 .. proba_{k-1}`` (or ``prediction``); ``None`` when not logged.
    metric:
        The metric monitoring tracks (the task's default in the metric table).
    importance:
        Permutation importance on the holdout, feature → mean score loss (may be empty).
    holdout_metrics:
        Every holdout metric of the evaluation report (may be empty).
    """

    name: str
    version: int
    task: Task
    classes: tuple[Any, ...] | None
    signature: Signature
    profile: Profile | None
    holdout: pd.DataFrame | None
    metric: str
    importance: dict[str, float]
    holdout_metrics: Mapping[str, float] = field(default_factory=dict)


def load_reference(registry: Registry, ref: str | ModelRef) -> VersionReference:
    """Load the monitoring reference of the version ``ref`` names (``name/3``, ``name@alias``).

    Raises
    ------
    NotFound
        The model, version or alias does not exist.
    IntegrityError
        A stored artifact differs from its recorded SHA-256.
    """
    version = registry.resolve(ref)
    signature = version.signature
    run = registry.tracker.get_run(version.run_id) if version.run_id else None
    stored = {a["path"] for a in run.artifacts} if run is not None else set()

    def read(path: str) -> bytes | None:
        return run.read_artifact(path) if run is not None and path in stored else None

    profile_bytes, report_bytes, holdout_bytes = (
        read(PROFILE_ARTIFACT),
        read(REPORT_ARTIFACT),
        read(HOLDOUT_ARTIFACT),
    )
    report = EvaluationReport.from_json(report_bytes.decode()) if report_bytes else None
    task = _task(signature, report, run)
    return VersionReference(
        name=version.name,
        version=version.version,
        task=task,
        classes=signature.classes,
        signature=signature,
        profile=Profile.from_dict(json.loads(profile_bytes)) if profile_bytes else None,
        holdout=pq.read_table(io.BytesIO(holdout_bytes)).to_pandas() if holdout_bytes else None,
        metric=default_metric(task),
        importance=_importance(report),
        holdout_metrics=dict(report.metrics) if report is not None else {},
    )


def _task(signature: Signature, report: EvaluationReport | None, run: Run | None) -> Task:
    if signature.task is not None:
        return signature.task
    if report is not None:
        return report.task
    if run is not None and run.params.get("task") in {t.value for t in Task}:
        return Task(run.params["task"])
    classes = signature.classes or ()
    if len(classes) > 2:
        return Task.MULTICLASS
    return Task.BINARY if classes else Task.REGRESSION


def _importance(report: EvaluationReport | None) -> dict[str, float]:
    if report is None or report.importance is None:
        return {}
    return {f.feature: f.mean for f in report.importance.features}
