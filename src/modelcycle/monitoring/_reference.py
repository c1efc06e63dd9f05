"""What a model version is compared against: its training profile, holdout and importances.

``ws.train`` records, with each version's run, the training profile, the evaluation
report (holdout metrics and permutation importance) and the holdout predictions (the
true class or value and the predicted probabilities or values); see
:class:`~modelcycle.records.TrainingRecord`. :func:`load_reference` gathers them; a
model a user logged without them gets empty parts, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelcycle.core import ModelRef, Task
from modelcycle.data import Profile
from modelcycle.evaluation import EvaluationReport, default_metric
from modelcycle.packaging import Signature
from modelcycle.records import TrainingRecord
from modelcycle.services import Services


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


def load_reference(services: Services, ref: str | ModelRef) -> VersionReference:
    """Load the monitoring reference of the version ``ref`` names (``name/3``, ``name@alias``).

    Raises
    ------
    NotFound
        The model, version or alias does not exist.
    IntegrityError
        A stored artifact differs from its recorded SHA-256.
    """
    version = services.registry.resolve(ref)
    signature = version.signature
    record = TrainingRecord(services.tracker.get_run(version.run_id)) if version.run_id else None
    report = record.evaluation if record is not None else None
    task = _task(signature, report, record)
    return VersionReference(
        name=version.name,
        version=version.version,
        task=task,
        classes=signature.classes,
        signature=signature,
        profile=record.profile if record is not None else None,
        holdout=record.holdout if record is not None else None,
        metric=default_metric(task),
        importance=_importance(report),
        holdout_metrics=dict(report.metrics) if report is not None else {},
    )


def _task(
    signature: Signature, report: EvaluationReport | None, record: TrainingRecord | None
) -> Task:
    if signature.task is not None:
        return signature.task
    if report is not None:
        return report.task
    if record is not None and record.task is not None:
        return record.task
    classes = signature.classes or ()
    if len(classes) > 2:
        return Task.MULTICLASS
    return Task.BINARY if classes else Task.REGRESSION


def _importance(report: EvaluationReport | None) -> dict[str, float]:
    if report is None or report.importance is None:
        return {}
    return {f.feature: f.mean for f in report.importance.features}
