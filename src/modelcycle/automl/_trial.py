"""One trial: a learner configuration scored by k-fold (or holdout) validation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from modelcycle.automl._metric import SearchMetric
from modelcycle.core import ModelcycleError, Task
from modelcycle.learners import Learner, get_learner

Fold = tuple[NDArray[np.intp], NDArray[np.intp]]


def plan_folds(y: NDArray[Any], task: Task, random_state: int) -> list[Fold]:
    """k-fold for small data (5 folds up to 10,000 rows, 3 up to 100,000), else a 20% holdout."""
    n_rows = len(y)
    indices = np.arange(n_rows)
    stratify = task is not Task.REGRESSION
    if n_rows > 100_000:
        train, valid = train_test_split(
            indices, test_size=0.2, random_state=random_state, stratify=y if stratify else None
        )
        return [(np.sort(train), np.sort(valid))]
    splits = 5 if n_rows <= 10_000 else 3
    if stratify:
        smallest = int(np.bincount(y.astype(int)).min())
        splits = max(2, min(splits, smallest))
        folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=random_state)
        return list(folds.split(indices, y))
    return list(KFold(n_splits=splits, shuffle=True, random_state=random_state).split(indices))


@dataclass(frozen=True)
class Matrix:
    """A preprocessed training matrix and the positions of its native categorical columns."""

    X: NDArray[np.float64]
    categorical: tuple[int, ...]


@dataclass
class TrialResult:
    """What one configuration scored and what it predicted out of fold."""

    number: int
    learner: str
    params: dict[str, Any]
    source: str
    class_weight: str | None = None
    loss: float = np.inf
    value: float = float("nan")
    fold_values: list[float] = field(default_factory=list)
    oof: NDArray[np.float64] | None = None
    iterations: list[int] = field(default_factory=list)
    seconds: float = 0.0
    #: When the trial began (seconds since the epoch), for its tracked run.
    started_at: float = 0.0
    status: str = "COMPLETE"
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Scored on every fold."""
        return self.status == "COMPLETE" and self.oof is not None


Prune = Callable[[int, float], bool]


def run_trial(
    result: TrialResult,
    *,
    matrix: Matrix,
    y: NDArray[Any],
    folds: list[Fold],
    task: Task,
    metric: SearchMetric,
    random_state: int,
    n_jobs: int,
    deadline: Callable[[int], float],
    should_prune: Prune | None = None,
) -> TrialResult:
    """Fit and score ``result``'s configuration on every fold, filling ``result`` in."""
    started = time.perf_counter()
    result.started_at = time.time()
    cls = get_learner(result.learner)
    n_classes = int(y.max()) + 1 if task is not Task.REGRESSION else 0
    oof = np.zeros((len(y), n_classes)) if n_classes else np.zeros(len(y))
    try:
        for index, (train, valid) in enumerate(folds):
            learner = _fit(
                cls, result, matrix, y, train, valid, task, random_state, n_jobs, deadline(index)
            )
            predicted = (
                learner.predict_proba(matrix.X[valid])
                if n_classes
                else learner.predict(matrix.X[valid])
            )
            oof[valid] = predicted
            result.fold_values.append(metric.value(y[valid], np.asarray(predicted, float)))
            result.iterations.append(
                int(
                    getattr(learner, "best_iteration_", None)
                    or getattr(learner, "n_iterations_", 0)
                    or 0
                )
            )
            if (
                should_prune is not None
                and index < len(folds) - 1
                and should_prune(index, float(np.mean(result.fold_values)))
            ):
                result.status = "PRUNED"
                break
        else:
            result.oof = oof
            result.value = metric.value(y, oof)
            result.loss = -result.value if metric.greater_is_better else result.value
    except (ModelcycleError, ValueError, ArithmeticError) as exc:
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def _fit(
    cls: type[Learner],
    result: TrialResult,
    matrix: Matrix,
    y: NDArray[Any],
    train: NDArray[np.intp],
    valid: NDArray[np.intp],
    task: Task,
    random_state: int,
    n_jobs: int,
    seconds_left: float,
) -> Learner:
    learner = cls(
        task=task,
        params=result.params,
        random_state=random_state,
        class_weight="balanced" if result.class_weight == "balanced" else None,
        n_jobs=n_jobs,
    )
    return learner.fit(
        matrix.X[train],
        y[train],
        X_valid=matrix.X[valid],
        y_valid=y[valid],
        categorical_features=matrix.categorical,
        time_limit_s=max(0.5, seconds_left),
    )
