"""The one table of metrics: what each means, for which tasks, which way is better.

AutoML ranks trials, evaluation scores the holdout, the registry's gates compare
versions, monitoring tracks realized and estimated performance and alert rules name
metrics — all by the names and directions declared here, so a metric means the same
thing everywhere. Values are computed by :func:`~modelcycle.evaluation.score` (and its
weighted form for bootstrap intervals and CBPE), from one implementation.

Examples
--------
>>> default_metric("regression"), metric_spec("rmse").greater_is_better
('rmse', False)
>>> [m.name for m in metrics_for("multiclass")]
['log_loss', 'roc_auc', 'accuracy', 'f1_macro']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from modelcycle.core import Task, ValidationError

_B, _M, _R = Task.BINARY, Task.MULTICLASS, Task.REGRESSION


@dataclass(frozen=True)
class MetricSpec:
    """One metric.

    Attributes
    ----------
    name:
        The metric's name, as written in CLIs, policies, rules and recorded metrics.
    tasks:
        The tasks it is defined for.
    greater_is_better:
        Its direction.
    needs:
        What it is computed from: class ``probabilities``, predicted ``labels``, or
        predicted ``values`` (regression).
    estimable:
        Whether CBPE can estimate it from probabilities before labels arrive.
    description:
        One line for people.
    """

    name: str
    tasks: frozenset[Task]
    greater_is_better: bool
    needs: Literal["probabilities", "labels", "values"]
    estimable: bool
    description: str

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than value ``b``."""
        return a > b if self.greater_is_better else a < b


def _spec(
    name: str,
    tasks: tuple[Task, ...],
    greater: bool,
    needs: Literal["probabilities", "labels", "values"],
    description: str,
    *,
    estimable: bool = False,
) -> MetricSpec:
    return MetricSpec(name, frozenset(tasks), greater, needs, estimable, description)


#: Every metric modelcycle computes, in the order reports list them.
METRIC_TABLE: Mapping[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _spec("roc_auc", (_B, _M), True, "probabilities", "area under the ROC curve "
              "(one-vs-rest macro average for multiclass)", estimable=True),
        _spec("average_precision", (_B,), True, "probabilities", "area under the "
              "precision-recall curve"),
        _spec("log_loss", (_B, _M), False, "probabilities", "cross-entropy of the predicted "
              "probabilities", estimable=True),
        _spec("brier", (_B,), False, "probabilities", "mean squared error of the positive-class "
              "probability", estimable=True),
        _spec("accuracy", (_B, _M), True, "labels", "share of rows predicted right",
              estimable=True),
        _spec("f1", (_B,), True, "labels", "F1 of the positive class", estimable=True),
        _spec("precision", (_B,), True, "labels", "share of predicted positives that are "
              "positive", estimable=True),
        _spec("recall", (_B,), True, "labels", "share of positives predicted positive",
              estimable=True),
        _spec("f1_macro", (_M,), True, "labels", "F1 averaged over classes", estimable=True),
        _spec("rmse", (_R,), False, "values", "root mean squared error"),
        _spec("mae", (_R,), False, "values", "mean absolute error"),
        _spec("r2", (_R,), True, "values", "coefficient of determination"),
    )
}  # fmt: skip

#: The metric each task is judged by unless the caller names another: AutoML's search,
#: the evaluation report's headline, the gates' comparisons, monitoring and retraining.
DEFAULT_METRIC: Mapping[Task, str] = {_B: "roc_auc", _M: "log_loss", _R: "rmse"}

#: Prefixes under which runs record a table metric (``test_roc_auc``, ``cv_rmse``).
RECORDED_PREFIXES = ("test_", "cv_", "holdout_", "val_", "train_")


def metric_spec(name: str, task: Task | str | None = None) -> MetricSpec:
    """The table entry of metric ``name`` (checked against ``task`` when given).

    Raises
    ------
    ValidationError
        The metric is not in the table, or is not defined for ``task``.
    """
    spec = METRIC_TABLE.get(name)
    if spec is None:
        raise ValidationError(
            f"metric {name!r} is not known; expected one of {sorted(METRIC_TABLE)}",
            details={"metric": name, "expected": sorted(METRIC_TABLE)},
        )
    if task is not None and Task(task) not in spec.tasks:
        allowed = [m.name for m in metrics_for(task)]
        raise ValidationError(
            f"metric {name!r} is not defined for {Task(task).value} models; expected one of "
            f"{allowed}",
            details={"metric": name, "expected": allowed},
        )
    return spec


def metrics_for(task: Task | str) -> tuple[MetricSpec, ...]:
    """The metrics of ``task``, its default first, then in table order."""
    kind = Task(task)
    first = METRIC_TABLE[DEFAULT_METRIC[kind]]
    return (first, *(s for s in METRIC_TABLE.values() if kind in s.tasks and s is not first))


def default_metric(task: Task | str) -> str:
    """The metric ``task`` is judged by unless another is named."""
    return DEFAULT_METRIC[Task(task)]


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better.

    ``metric`` is a table name, or a recorded name with a table name after a known
    prefix (``test_roc_auc``, ``cv_rmse``). Any other name — a metric a user logged
    themselves — is judged by its words: a name containing ``loss``, ``error``,
    ``rmse``, ``mae``, ``mse``, ``brier`` or ``latency`` is lower-is-better.

    Examples
    --------
    >>> greater_is_better("roc_auc"), greater_is_better("test_rmse"), greater_is_better("my_loss")
    (True, False, False)
    """
    spec = METRIC_TABLE.get(_table_name(metric))
    if spec is not None:
        return spec.greater_is_better
    lowered = metric.lower()
    return not any(word in lowered for word in _LOWER_WORDS)


_LOWER_WORDS = ("loss", "error", "rmse", "mse", "mae", "brier", "latency")


def _table_name(metric: str) -> str:
    for prefix in RECORDED_PREFIXES:
        if metric.startswith(prefix) and metric[len(prefix) :] in METRIC_TABLE:
            return metric[len(prefix) :]
    return metric
