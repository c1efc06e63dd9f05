"""The metric the search optimises, as a loss to minimise.

Names, tasks and directions come from the evaluation package's metric table, so a
trial's ``cv_roc_auc`` means what the holdout report's ``roc_auc`` means. The few
metrics trials are ranked by most often have fast paths (they run for every fold and
every step of ensemble selection); every other table metric is computed by
:func:`modelcycle.evaluation.score`'s implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import log_loss, mean_squared_error, r2_score, roc_auc_score

from modelcycle.core import Task
from modelcycle.evaluation import default_metric, metric_spec, metric_value, prepare_output

Array = NDArray[np.float64]


def _roc_auc(y: Array, predictions: Array) -> float:
    return float(roc_auc_score(y, predictions[:, 1]))


def _log_loss(y: Array, predictions: Array) -> float:
    clipped = np.clip(predictions, 1e-15, 1.0)
    return float(log_loss(y, clipped, labels=np.arange(predictions.shape[1])))


def _accuracy(y: Array, predictions: Array) -> float:
    return float(np.mean(predictions.argmax(axis=1) == y))


def _rmse(y: Array, predictions: Array) -> float:
    return float(np.sqrt(mean_squared_error(y, predictions)))


def _r2(y: Array, predictions: Array) -> float:
    return float(r2_score(y, predictions))


_FAST: dict[str, Callable[[Array, Array], float]] = {
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "accuracy": _accuracy,
    "rmse": _rmse,
    "r2": _r2,
}


@dataclass(frozen=True)
class SearchMetric:
    """A named metric of the table and how to turn predictions into a loss (lower is better)."""

    task: Task
    name: str

    @classmethod
    def for_task(cls, task: Task, name: str | None = None) -> SearchMetric:
        """The task's default metric (ROC AUC, log loss, RMSE), or any table metric of the task.

        Raises
        ------
        ValidationError
            ``name`` is not a metric of ``task``.
        """
        chosen = name or default_metric(task)
        metric_spec(chosen, task)  # refuses a name the table does not give for the task
        return cls(task, chosen)

    @property
    def greater_is_better(self) -> bool:
        """Whether higher values of the metric are better."""
        return metric_spec(self.name).greater_is_better

    def value(self, y: Array, predictions: Array) -> float:
        """The metric itself (probabilities n×k for classifiers, values for regression)."""
        fast = _FAST.get(self.name)
        if fast is not None:
            return fast(y, predictions)
        n_classes = predictions.shape[1] if predictions.ndim == 2 else None
        outcome = prepare_output(self.task, y, predictions, n_classes=n_classes)
        return metric_value(outcome, self.name)

    def loss(self, y: Array, predictions: Array) -> float:
        """The value turned into something to minimise."""
        value = self.value(y, predictions)
        return -value if self.greater_is_better else value
