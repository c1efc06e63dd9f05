"""The search: a portfolio of known-good configurations, then Optuna's TPE, under a budget."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from numpy.typing import NDArray

from modelcycle.automl._budget import Budget
from modelcycle.automl._metric import SearchMetric
from modelcycle.automl._trial import Fold, Matrix, TrialResult, run_trial
from modelcycle.core import Task
from modelcycle.learners import get_learner

OnTrial = Callable[[TrialResult, TrialResult | None], None]


@dataclass
class SearchSpace:
    """What the search may try and how it is judged."""

    task: Task
    metric: SearchMetric
    learners: list[str]
    folds: list[Fold]
    imbalanced: bool
    random_state: int
    n_jobs: int


class Search:
    """Runs trials until the budget (minus the time kept for the final refit) is spent."""

    def __init__(
        self,
        space: SearchSpace,
        matrices: Callable[[str], Matrix],
        y: NDArray[Any],
        budget: Budget,
        *,
        on_trial: OnTrial | None = None,
    ) -> None:
        self.space = space
        self.matrices = matrices
        self.y = y
        self.budget = budget
        self.on_trial = on_trial
        self.results: list[TrialResult] = []

    # -- time -----------------------------------------------------------------------

    def refit_reserve(self) -> float:
        """Seconds to keep for refitting the likely ensemble on all rows."""
        best = sorted((r for r in self.results if r.complete), key=lambda r: r.loss)[:3]
        folds = len(self.space.folds)
        per_fit = [r.seconds / folds * (1 + 1 / max(folds, 2)) for r in best]
        return 0.5 + 1.3 * sum(per_fit)

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.budget.remaining() - self.refit_reserve()

    @property
    def best(self) -> TrialResult | None:
        """The best complete trial so far."""
        complete = [r for r in self.results if r.complete]
        return min(complete, key=lambda r: r.loss) if complete else None

    # -- running ----------------------------------------------------------------------

    def run(self) -> list[TrialResult]:
        """Portfolio first, then TPE on the most promising learners, until time is up."""
        for learner, params, weight in self._portfolio():
            if self.search_left() <= 0:
                return self.results
            self._evaluate(TrialResult(len(self.results), learner, params, "portfolio", weight))
        with _quiet_optuna():
            self._tune()
        return self.results

    def _portfolio(self) -> Iterator[tuple[str, dict[str, Any], str | None]]:
        n_rows, n_features = len(self.y), self.matrices(self.space.learners[0]).X.shape[1]
        for name in self.space.learners:
            for index, params in enumerate(
                get_learner(name).portfolio(self.space.task, n_rows, n_features)
            ):
                yield name, params, None
                if self.space.imbalanced and index == 0:
                    yield name, params, "balanced"

    def _tune(self) -> None:
        ranked = sorted((r for r in self.results if r.complete), key=lambda r: r.loss)
        leaders = list(dict.fromkeys(r.learner for r in ranked))[:2] or self.space.learners[:1]
        studies = {name: self._study(index) for index, name in enumerate(leaders)}
        turn = 0
        while self.search_left() > 0:
            # The leader gets two trials for each one of the runner-up.
            name = leaders[0] if len(leaders) == 1 or turn % 3 else leaders[1]
            turn += 1
            self._tell(studies[name], name)

    def _study(self, index: int) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(
            seed=self.space.random_state + index, n_startup_trials=5
        )
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
        return optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)

    def _tell(self, study: optuna.Study, name: str) -> None:
        trial = study.ask()
        params = get_learner(name).search_space(trial, self.space.task)
        weight: str | None = None
        if self.space.imbalanced:
            chosen = str(trial.suggest_categorical("class_weight", ["none", "balanced"]))
            weight = None if chosen == "none" else chosen
        sign = -1.0 if self.space.metric.greater_is_better else 1.0

        def should_prune(step: int, value: float) -> bool:
            trial.report(sign * value, step)
            return bool(trial.should_prune())

        result = self._evaluate(
            TrialResult(len(self.results), name, params, "tpe", weight), should_prune
        )
        if result.complete:
            study.tell(trial, result.loss)
        elif result.status == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _evaluate(
        self, result: TrialResult, should_prune: Callable[[int, float], bool] | None = None
    ) -> TrialResult:
        folds = len(self.space.folds)

        def fold_deadline(fold: int) -> float:
            """Seconds fold ``fold`` may take: the search's time left over the folds left."""
            return max(0.5, self.search_left() / (folds - fold))

        run_trial(
            result,
            matrix=self.matrices(result.learner),
            y=self.y,
            folds=self.space.folds,
            task=self.space.task,
            metric=self.space.metric,
            random_state=self.space.random_state,
            n_jobs=self.space.n_jobs,
            deadline=fold_deadline,
            should_prune=should_prune,
        )
        self.results.append(result)
        if self.on_trial is not None:
            self.on_trial(result, self.best)
        return result


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while the search runs, the caller's level after.

    Optuna's verbosity is process-wide; importing modelcycle never changes it.
    """
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def imbalance(y: NDArray[Any], task: Task) -> bool:
    """Whether a binary target's minority class is under 20% of the rows."""
    if task is not Task.BINARY:
        return False
    counts = np.bincount(y.astype(int))
    return bool(counts.min() / counts.sum() < 0.2)
