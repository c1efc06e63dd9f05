"""The search: a portfolio of known-good configurations, then Optuna's TPE, under a budget.

**Encodings of many-valued categorical columns are part of the search.** A column with
more than :data:`MANY_LEVELS` levels — people, places, organisations — carries signal
in its level, but each level has few rows. How to feed it is chosen by validation on the
same folds as every other choice, per learner, from :data:`ENCODINGS`:

- ``fine``: native codes for every level seen 5 times or more, with LightGBM's
  categorical regularisation (``cat_smooth``, ``cat_l2``, ``min_data_per_group``,
  ``max_cat_threshold``) tuned — LightGBM's own way with categoricals, so tried first;
- ``target``: out-of-fold smoothed target means (recomputed inside each fold);
- ``native``: the default preprocessing (levels under 1% of the rows folded into "other");
- ``count``: each level's share of the rows;
- ``drop``: the columns left out.

Columns with few levels keep the learner's own encoding.

**The budget is hard.** Every trial's fit and prediction times are measured; the search
keeps, from the one :class:`Budget`, what refitting the likely ensemble on all rows,
selecting it and predicting as many rows again will take (:meth:`Search.reserve`); each
fold may use only its share of what is left, and a trial whose first folds say the rest
will not fit is stopped ("TIMEOUT").
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from numpy.typing import NDArray

from modelcycle.automl._budget import Budget
from modelcycle.automl._executor import (
    LocalExecutor,
    TrialContext,
    TrialExecutor,
    TrialJob,
)
from modelcycle.automl._metric import SearchMetric
from modelcycle.automl._trial import Fold, Matrix, TrialResult
from modelcycle.core import Task
from modelcycle.learners import get_learner

OnTrial = Callable[[TrialResult, TrialResult | None], None]
Matrices = Callable[[str, str], Matrix]

#: A categorical column with more levels than this is "many-valued" (see the module doc).
MANY_LEVELS = 32
#: Ways to encode the many-valued columns, in the order the portfolio tries them (the
#: order matters only when time runs out; the choice is by validation).
ENCODINGS = ("fine", "target", "native", "count", "drop")
#: Measured times are scaled by this before they are kept, for a busier machine later.
SAFETY = 1.3
#: Rounds of ensemble selection at most, and candidates.
ENSEMBLE_ROUNDS = 25
ENSEMBLE_CANDIDATES = 10


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
    #: Encodings of many-valued categorical columns to choose from (``("native",)``: none).
    encodings: tuple[str, ...] = ("native",)
    #: Whether ensemble selection runs after the search (its time is kept).
    ensemble: bool = True

    def encodings_for(self, learner: str) -> tuple[str, ...]:
        """The encodings that differ for ``learner`` (``fine`` is native codes only)."""
        if get_learner(learner).encoding == "native":
            return self.encodings
        return tuple(e for e in self.encodings if e != "fine")


class Search:
    """Runs trials until the budget (minus the time kept for the final refit) is spent."""

    def __init__(
        self,
        space: SearchSpace,
        matrices: Matrices,
        y: NDArray[Any],
        budget: Budget,
        *,
        on_trial: OnTrial | None = None,
        executor: TrialExecutor | None = None,
    ) -> None:
        self.space = space
        self.matrices = matrices
        self.y = y
        self.budget = budget
        self.on_trial = on_trial
        self.executor = executor if executor is not None else LocalExecutor()
        self.results: list[TrialResult] = []
        self._submitted = 0
        self._asked: dict[int, tuple[optuna.Study, optuna.Trial]] = {}

    # -- time -----------------------------------------------------------------------

    def reserve(self) -> float:
        """Seconds to keep for what follows the search, estimated from measured trials.

        Refitting the three best trials on all rows (the likely ensemble), ensemble
        selection over the out-of-fold predictions, and predicting as many rows as there
        are training rows (transforming them included), times :data:`SAFETY`, plus a
        margin of 1% of the budget. A holdout trial (large data) keeps the model it
        trained when its refit does not fit (``AutoML._refit``), so only the best of them
        is counted as refitted: reserving every refit stopped the search of a
        100,000-row table at 40% of its budget.
        """
        best = sorted((r for r in self.results if r.complete), key=lambda r: r.loss)[:3]
        rows = len(self.y)
        must = [r for r in best if r.model is None]  # cross-validated: refit or nothing
        kept = [r for r in best if r.model is not None]
        refit = sum(refit_estimate(r, rows) for r in must + kept[:1])
        predict = sum(r.predict_estimate(rows) for r in best)
        transform = sum(
            self.matrices(r.learner, r.encoding).seconds
            for r in {(r.learner, r.encoding): r for r in best}.values()
        )
        selection = 0.0
        if self.space.ensemble and best:
            calls = ENSEMBLE_ROUNDS * min(ENSEMBLE_CANDIDATES, len(self.results))
            selection = calls * max(r.metric_seconds for r in best)
        return 0.3 + 0.01 * self.budget.seconds + SAFETY * (refit + predict + transform + selection)

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.budget.remaining() - self.reserve()

    @property
    def best(self) -> TrialResult | None:
        """The best complete trial so far."""
        complete = [r for r in self.results if r.complete]
        return min(complete, key=lambda r: r.loss) if complete else None

    # -- running ----------------------------------------------------------------------

    def run(self) -> list[TrialResult]:
        """Portfolio first, then TPE on the most promising learners, until time is up.

        As many trials run at once as the executor has slots (one, in this process, by
        default); each slot gets the next proposal as soon as it frees, and results are
        recorded here in the order trials end.
        """
        context = TrialContext(
            self.y,
            self.space.folds,
            self.space.task,
            self.space.metric,
            self.space.random_state,
            self.space.n_jobs,
        )
        pending: list[Any] = []
        proposals = self._proposals()
        with _quiet_optuna():
            while True:
                while len(pending) < self.executor.slots and self.search_left() > 0:
                    job = next(proposals, None)
                    if job is None:
                        break
                    job.seconds_left = self.search_left()
                    pending.append(
                        self.executor.submit(job, self.matrices, context, self.search_left)
                    )
                if not pending:
                    return self.results
                finished, pending = self.executor.wait(pending)
                for result in finished:
                    self._record(result)

    def _proposals(self) -> Iterator[TrialJob]:
        """The portfolio, then TPE's proposals (the leader two for each of the runner-up's)."""
        for learner, params, weight, encoding in self._portfolio():
            yield TrialJob(self._next(learner, params, "portfolio", weight, encoding), 0.0)
        ranked = sorted((r for r in self.results if r.complete), key=lambda r: r.loss)
        leaders = list(dict.fromkeys(r.learner for r in ranked))[:2] or self.space.learners[:1]
        studies = {name: self._study(index) for index, name in enumerate(leaders)}
        turn = 0
        while True:
            name = leaders[0] if len(leaders) == 1 or turn % 3 else leaders[1]
            turn += 1
            yield self._ask(studies[name], name)

    def _next(
        self, learner: str, params: dict[str, Any], source: str, weight: str | None, encoding: str
    ) -> TrialResult:
        number, self._submitted = self._submitted, self._submitted + 1
        return TrialResult(number, learner, params, source, weight, encoding)

    def _portfolio(self) -> Iterator[tuple[str, dict[str, Any], str | None, str]]:
        """Each learner's first configuration with every encoding, the rest with the best."""
        first = self.space.learners[0]
        first_encoding = self.space.encodings_for(first)[0]
        n_rows, n_features = len(self.y), self.matrices(first, first_encoding).X.shape[1]
        for name in self.space.learners:
            configurations = get_learner(name).portfolio(self.space.task, n_rows, n_features)
            for index, params in enumerate(configurations):
                encodings = (
                    self.space.encodings_for(name) if index == 0 else (self._best_encoding(name),)
                )
                for encoding in encodings:
                    yield name, params, None, encoding
                if self.space.imbalanced and index == 0:
                    yield name, params, "balanced", self._best_encoding(name)

    def _best_encoding(self, learner: str) -> str:
        complete = [r for r in self.results if r.complete and r.learner == learner]
        if complete:
            return min(complete, key=lambda r: r.loss).encoding
        return self.space.encodings_for(learner)[0]

    def _study(self, index: int) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(
            seed=self.space.random_state + index, n_startup_trials=5
        )
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
        storage = self.executor.storage
        name = None if storage is None else f"modelcycle-{uuid.uuid4().hex}-{index}"
        return optuna.create_study(
            direction="minimize", sampler=sampler, pruner=pruner, storage=storage, study_name=name
        )

    def _ask(self, study: optuna.Study, name: str) -> TrialJob:
        trial = study.ask()
        cls = get_learner(name)
        params = cls.search_space(trial, self.space.task)
        encodings = self.space.encodings_for(name)
        encoding = (
            str(trial.suggest_categorical("encoding", encodings))
            if len(encodings) > 1
            else "native"
        )
        if self.matrices(name, encoding).categorical:
            params.update(cls.categorical_space(trial))
        weight: str | None = None
        if self.space.imbalanced:
            chosen = str(trial.suggest_categorical("class_weight", ["none", "balanced"]))
            weight = None if chosen == "none" else chosen
        sign = -1.0 if self.space.metric.greater_is_better else 1.0
        result = self._next(name, params, "tpe", weight, encoding)
        self._asked[result.number] = (study, trial)
        return TrialJob(result, 0.0, trial, sign)

    def _record(self, result: TrialResult) -> None:
        asked = self._asked.pop(result.number, None)
        if asked is not None:
            study, trial = asked
            if result.complete:
                study.tell(trial, result.loss)
            elif result.status in ("PRUNED", "TIMEOUT"):  # pruned by its score or by time
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.results.append(result)
        if self.on_trial is not None:
            self.on_trial(result, self.best)


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


def refit_estimate(result: TrialResult, rows: int) -> float:
    """Seconds refitting ``result``'s configuration on ``rows`` rows should take.

    Linear in the rows, and boosting refits with a fifth more rounds than its folds
    stopped at on average (see ``AutoML._refit``).
    """
    rounds = 1.0 + 1.0 / max(len(result.iterations), 2) if result.iterations else 1.0
    return result.fit_estimate(rows) * rounds


def imbalance(y: NDArray[Any], task: Task) -> bool:
    """Whether a binary target's minority class is under 20% of the rows."""
    if task is not Task.BINARY:
        return False
    counts = np.bincount(y.astype(int))
    return bool(counts.min() / counts.sum() < 0.2)
