"""The metric the search optimises, as a loss to minimise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import log_loss, mean_squared_error, r2_score, roc_auc_score

from modelcycle.core import Task, ValidationError

_DEFAULTS = {Task.BINARY: "roc_auc", Task.MULTICLASS: "log_loss", Task.REGRESSION: "r2"}
_KNOWN = {
    Task.BINARY: ("roc_auc", "log_loss"),
    Task.MULTICLASS: ("log_loss", "accuracy"),
    Task.REGRESSION: ("r2", "rmse"),
}


@dataclass(frozen=True)
class SearchMetric:
    """A named metric and how to turn predictions into a loss (lower is better)."""

    task: Task
    name: str

    @classmethod
    def for_task(cls, task: Task, name: str | None = None) -> SearchMetric:
        """The default metric of ``task`` (ROC AUC, log loss, R²) or a named one."""
        chosen = name or _DEFAULTS[task]
        if chosen not in _KNOWN[task]:
            raise ValidationError(
                f"metric {chosen!r} cannot rank {task.value} models; "
                f"expected one of {list(_KNOWN[task])}"
            )
        return cls(task, chosen)

    @property
    def greater_is_better(self) -> bool:
        """Whether higher values of the metric are better."""
        return self.name in ("roc_auc", "r2", "accuracy")

    def value(self, y: NDArray[np.float64], predictions: NDArray[np.float64]) -> float:
        """The metric itself (probabilities n×k for classifiers, values for regression)."""
        if self.name == "roc_auc":
            return float(roc_auc_score(y, predictions[:, 1]))
        if self.name == "log_loss":
            return float(
                log_loss(
                    y, np.clip(predictions, 1e-15, 1.0), labels=np.arange(predictions.shape[1])
                )
            )
        if self.name == "accuracy":
            return float(np.mean(predictions.argmax(axis=1) == y))
        if self.name == "r2":
            return float(r2_score(y, predictions))
        return float(np.sqrt(mean_squared_error(y, predictions)))

    def loss(self, y: NDArray[np.float64], predictions: NDArray[np.float64]) -> float:
        """The value turned into something to minimise."""
        value = self.value(y, predictions)
        return -value if self.greater_is_better else value
