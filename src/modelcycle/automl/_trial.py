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
from modelcycle.features import TargetCodes
from modelcycle.learners import Learner, get_learner

Fold = tuple[NDArray[np.intp], NDArray[np.intp]]

#: Above this many rows, trials are judged on one 20% holdout instead of k folds.
HOLDOUT_ROWS = 50_000


def scored_rows(folds: list[Fold]) -> NDArray[np.intp]:
    """The rows some fold validates on: all rows for k-fold, the holdout's otherwise.

    Out-of-fold predictions exist only for these, so scores and ensemble selection use
    only these.
    """
    return np.unique(np.concatenate([valid for _, valid in folds]))


def plan_folds(y: NDArray[Any], task: Task, random_state: int) -> list[Fold]:
    """k-fold for small data (5 folds up to 10,000 rows, 3 up to 50,000), else a 20% holdout.

    Above 50,000 rows a 20% holdout has 10,000 rows or more to judge by, and a trial
    costs one fit instead of three: within a budget of seconds, more configurations
    and encodings are worth more than less noisy scores of few.
    """
    n_rows = len(y)
    indices = np.arange(n_rows)
    stratify = task is not Task.REGRESSION
    if n_rows > HOLDOUT_ROWS:
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
    """A preprocessed training matrix and the positions of its native categorical columns.

    A matrix with target-encoded columns also carries their codes and the target
    (``target_codes``): the columns
    in ``X`` are out-of-fold over all rows, which is right for the final refit but would
    let a validation fold's own targets into its training rows' encodings; :meth:`fold`
    recomputes them from the fold's training rows, so every encoding is judged on the
    same folds as honestly as every other.
    """

    X: NDArray[np.float64]
    categorical: tuple[int, ...]
    target_codes: tuple[TargetCodes, ...] = ()
    smoothing: float = 10.0
    inner_folds: int = 5
    random_state: int = 0
    #: Seconds fitting the preprocessing and transforming all rows took.
    seconds: float = 0.0

    def fold(
        self, train: NDArray[np.intp], valid: NDArray[np.intp]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The training and validation rows of one fold, target encodings from ``train`` only."""
        X_train, X_valid = self.X[train], self.X[valid]
        for block in self.target_codes:
            encoded_train, encoded_valid = block.encode(
                train,
                valid,
                smoothing=self.smoothing,
                folds=self.inner_folds,
                random_state=self.random_state,
            )
            stop = block.start + encoded_train.shape[1]
            X_train[:, block.start : stop] = encoded_train
            X_valid[:, block.start : stop] = encoded_valid
        return X_train, X_valid


@dataclass
class TrialResult:
    """What one configuration scored and what it predicted out of fold."""

    number: int
    learner: str
    params: dict[str, Any]
    source: str
    class_weight: str | None = None
    #: How the many-valued categorical columns were encoded (see ``_search.ENCODINGS``).
    encoding: str = "native"
    loss: float = np.inf
    value: float = float("nan")
    fold_values: list[float] = field(default_factory=list)
    oof: NDArray[np.float64] | None = None
    iterations: list[int] = field(default_factory=list)
    seconds: float = 0.0
    #: Seconds spent fitting and predicting, summed over folds, and the rows involved:
    #: what the search extrapolates the refit on all rows and the final prediction from.
    fit_seconds: float = 0.0
    fit_rows: int = 0
    predict_seconds: float = 0.0
    predict_rows: int = 0
    #: Seconds one evaluation of the metric on all out-of-fold rows took.
    metric_seconds: float = 0.0
    #: When the trial began (seconds since the epoch), for its tracked run.
    started_at: float = 0.0
    status: str = "COMPLETE"
    error: str | None = None
    #: The fitted model of a holdout trial (one fold): the final model when there is no
    #: time left to refit on all rows.
    model: Learner | None = None

    @property
    def complete(self) -> bool:
        """Scored on every fold."""
        return self.status == "COMPLETE" and self.oof is not None

    def fit_estimate(self, rows: int) -> float:
        """Seconds a fit of this configuration on ``rows`` rows should take (linear in rows)."""
        return self.fit_seconds / max(self.fit_rows, 1) * rows

    def predict_estimate(self, rows: int) -> float:
        """Seconds predicting ``rows`` rows should take."""
        return self.predict_seconds / max(self.predict_rows, 1) * rows


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
    time_left: Callable[[], float] | None = None,
) -> TrialResult:
    """Fit and score ``result``'s configuration on every fold, filling ``result`` in.

    ``deadline(fold)`` is the seconds that fold may take (boosting and forests stop
    growing then). ``time_left()`` is the search's remaining time: a trial whose folds so
    far say the rest will not fit in it is stopped ("TIMEOUT") rather than overrun.
    """
    started = time.perf_counter()
    result.started_at = time.time()
    cls = get_learner(result.learner)
    n_classes = int(y.max()) + 1 if task is not Task.REGRESSION else 0
    oof = np.zeros((len(y), n_classes)) if n_classes else np.zeros(len(y))
    try:
        for index, (train, valid) in enumerate(folds):
            X_train, X_valid = matrix.fold(train, valid)
            fit_started = time.perf_counter()
            learner = cls(
                task=task,
                params=result.params,
                random_state=random_state,
                class_weight="balanced" if result.class_weight == "balanced" else None,
                n_jobs=n_jobs,
            ).fit(
                X_train,
                y[train],
                X_valid=X_valid,
                y_valid=y[valid],
                categorical_features=matrix.categorical,
                time_limit_s=max(0.1, deadline(index)),
            )
            predict_started = time.perf_counter()
            predicted = learner.predict_proba(X_valid) if n_classes else learner.predict(X_valid)
            result.fit_seconds += predict_started - fit_started
            result.predict_seconds += time.perf_counter() - predict_started
            result.fit_rows += len(train)
            result.predict_rows += len(valid)
            oof[valid] = predicted
            if len(folds) == 1:
                result.model = learner
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
            if time_left is not None and index < len(folds) - 1:
                per_fold = (time.perf_counter() - started) / (index + 1)
                if per_fold * (len(folds) - index - 1) > time_left():
                    result.status = "TIMEOUT"
                    break
        else:
            metric_started = time.perf_counter()
            scored = scored_rows(folds)
            result.oof = oof
            result.value = metric.value(y[scored], oof[scored])
            result.loss = -result.value if metric.greater_is_better else result.value
            result.metric_seconds = time.perf_counter() - metric_started
    except (ModelcycleError, ValueError, ArithmeticError) as exc:
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result
