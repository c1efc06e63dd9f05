"""AutoML: from a table and a target to the best pipeline found within a time budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from modelcycle.automl._budget import Budget
from modelcycle.automl._ensemble import select_ensemble
from modelcycle.automl._executor import TrialExecutor
from modelcycle.automl._metric import SearchMetric
from modelcycle.automl._search import (
    ENCODINGS,
    ENSEMBLE_CANDIDATES,
    ENSEMBLE_ROUNDS,
    MANY_LEVELS,
    SAFETY,
    OnTrial,
    Search,
    SearchSpace,
    imbalance,
    refit_estimate,
)
from modelcycle.automl._trial import Matrix, TrialResult, plan_folds, scored_rows
from modelcycle.core import ColumnKind, Schema, Task, ValidationError
from modelcycle.data import (
    ValidationReport,
    as_pandas,
    as_pandas_series,
    check_target,
    detect_task,
    infer_schema,
    validate,
)
from modelcycle.features import Preprocessor
from modelcycle.learners import BUILTIN_LEARNERS, Learner, available_learners, get_learner
from modelcycle.packaging import Member, ModelPipeline

#: Native codes for every level seen this many times or more (the ``fine`` encoding).
_LOG = logging.getLogger("modelcycle.automl")
_FINE_MIN_COUNT = 5


class AutoML(BaseEstimator):  # type: ignore[misc]
    """Search learners and their settings under a time budget; keep the best pipeline.

    A scikit-learn estimator: ``get_params``, ``set_params`` and ``sklearn.clone``
    work, and :meth:`fit` takes ``fit(X, y)`` as well as ``fit(frame, "target")``.

    Parameters
    ----------
    budget:
        Seconds of wall time for the whole of :meth:`fit`: checks, search, ensemble
        selection and the refit on all rows, with time kept for predicting as many rows
        again (see :mod:`modelcycle.automl._budget`).
    task:
        ``"binary"``, ``"multiclass"`` or ``"regression"``; detected from the target if omitted.
    metric:
        What to optimise: any metric of the task in the evaluation metric table
        (:data:`modelcycle.evaluation.METRIC_TABLE`); default ``roc_auc`` (binary),
        ``log_loss`` (multiclass), ``rmse`` (regression).
    learners:
        Learner names to consider. Default: LightGBM, linear, extra trees and random
        forest; XGBoost too on tables with many-valued categorical columns when it is
        installed. CatBoost only when named (``learners=[..., "catboost"]``).
    random_state:
        Seed of folds, learners and the tuner: the same seed and data give the same search
        order (trial counts still depend on the machine's speed).
    n_jobs:
        Threads per learner on large data (small data uses one thread; see ``threads_``).
    ensemble:
        Blend the best trials by ensemble selection when that beats the best single one.
    on_trial:
        Called after every trial with the trial and the best trial so far.
    executor:
        Where trials run (default: one at a time in this process); a
        ``modelcycle.distributed.DaskExecutor`` runs one per Dask worker thread at once,
        under the same budget (see :mod:`modelcycle.automl._executor`).

    Attributes
    ----------
    task_, metric_, schema_, validation_, classes_, pipeline_, results_, leaderboard_,
    ensemble_, best_value_, elapsed_s_
    many_valued_:
        Categorical columns with more than 32 levels, whose encoding the search chooses
        by validation (native codes, target means, frequencies or left out; see
        :mod:`modelcycle.automl._search`).
    """

    def __init__(
        self,
        *,
        budget: float = 60.0,
        task: Task | str | None = None,
        metric: str | None = None,
        learners: Sequence[str] | None = None,
        random_state: int = 0,
        n_jobs: int = 2,
        ensemble: bool = True,
        on_trial: OnTrial | None = None,
        executor: TrialExecutor | None = None,
    ) -> None:
        self.budget = budget
        self.task = task
        self.metric = metric
        self.learners = learners
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.ensemble = ensemble
        self.on_trial = on_trial
        self.executor = executor

    def fit(
        self, X: Any, y: Any, *, schema: Schema | None = None, budget: Budget | None = None
    ) -> AutoML:
        """Check the data, search, blend and refit on all rows.

        Parameters
        ----------
        X:
            The table: a pandas or polars DataFrame (or anything narwhals reads).
        y:
            The target: the name of a column of ``X`` (``fit(frame, "churn")``), or
            the target values, one per row (``fit(X, y)`` as in scikit-learn).
        schema:
            The table's schema (inferred when omitted).
        budget:
            The caller's running :class:`Budget` (a train job's, minus the time it keeps
            for later steps); default: a new one of :attr:`budget` seconds.

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        >>> AutoML(budget=5).fit(X, y).leaderboard_frame().shape[0] > 0  # doctest: +SKIP
        True
        """
        self._check_budget()
        budget = budget if budget is not None else Budget(self.budget)
        frame, target = _table_and_target(X, y)
        check_target(frame, target)
        y_raw = frame[target]
        self.task_ = detect_task(y_raw, override=Task(self.task) if self.task else None)
        self.schema_ = schema or infer_schema(frame, target=target)
        self.validation_ = validate(frame, self.schema_, task=self.task_)
        self.validation_.raise_for_errors()
        self.metric_ = SearchMetric.for_task(self.task_, self.metric)
        inputs = frame.drop(columns=[target])
        y = self._encode_target(y_raw)
        self.many_valued_ = self._many_valued(inputs)
        names = self._learner_names()
        self.preprocessors_: dict[str, Preprocessor] = {}
        matrices: dict[str, Matrix] = {}

        def matrix(learner: str, encoding: str) -> Matrix:
            key = _preprocessor_key(get_learner(learner), encoding)
            if key not in matrices:
                matrices[key] = self._prepare(key, get_learner(learner), encoding, inputs, y_raw)
            return matrices[key]

        self.threads_ = _threads(self.n_jobs, inputs.shape)
        folds = plan_folds(y, self.task_, self.random_state)
        imbalanced = imbalance(y, self.task_)
        space = SearchSpace(
            self.task_,
            self.metric_,
            names,
            folds,
            imbalanced,
            self.random_state,
            self.threads_,
            encodings=ENCODINGS if self.many_valued_ else ("native",),
            ensemble=self.ensemble,
        )
        search = Search(space, matrix, y, budget, on_trial=self.on_trial, executor=self.executor)
        self.results_ = search.run()
        self._scored = scored_rows(folds)
        members = self._choose(y, budget)
        self.pipeline_ = self._refit(members, matrix, y, budget)
        self.elapsed_s_ = budget.elapsed()
        return self

    def preprocessor_of(self, result: TrialResult) -> Preprocessor:
        """The preprocessing (fitted on the search's rows) that ``result``'s trial read."""
        key = _preprocessor_key(get_learner(result.learner), result.encoding)
        if key not in getattr(self, "preprocessors_", {}):
            raise ValidationError(
                f"trial {result.number} ({result.learner}, {result.encoding} encoding) is not "
                "one of this search's; fit the AutoML first"
            )
        return self.preprocessors_[key]

    # -- steps ---------------------------------------------------------------------

    def _check_budget(self) -> None:
        valid = isinstance(self.budget, int | float) and not isinstance(self.budget, bool)
        if not valid or not self.budget > 0:
            raise ValidationError(f"budget {self.budget!r} is not valid; expected seconds > 0")

    def _encode_target(self, y_raw: pd.Series) -> NDArray[Any]:
        if self.task_ is Task.REGRESSION:
            self.classes_: list[Any] | None = None
            return np.asarray(y_raw, dtype=float)
        labels = sorted(pd.unique(y_raw.dropna()), key=lambda v: (str(type(v)), v))
        self.classes_ = [v.item() if isinstance(v, np.generic) else v for v in labels]
        codes = pd.Categorical(y_raw, categories=labels).codes
        return np.asarray(codes, dtype=np.int64)

    def _learner_names(self) -> list[str]:
        allowed = available_learners(self.task_)
        if not self.learners:
            searched = {"always", "many_valued"} if self.many_valued_ else {"always"}
            return [name for name in allowed if get_learner(name).default_search in searched]
        chosen = list(self.learners)
        for name in chosen:
            cls = _builtin(name)
            if cls is not None and not cls.installed():
                raise ValidationError(
                    f"learner {name!r} needs the {cls.library!r} package, which is not "
                    f"installed; install it with pip install 'modelcycle[{cls.extra}]'"
                )
        unknown = [n for n in chosen if n not in allowed]
        if unknown:
            raise ValidationError(
                f"learners {unknown} cannot do {self.task_.value}; expected some of {allowed}"
            )
        return chosen

    def _many_valued(self, inputs: pd.DataFrame) -> list[str]:
        """Categorical features with more than ``MANY_LEVELS`` levels in the training rows."""
        return [
            column.name
            for column in self.schema_.features
            if column.kind is ColumnKind.CATEGORICAL
            and column.name in inputs.columns
            and inputs[column.name].nunique() > MANY_LEVELS
        ]

    def _prepare(
        self, key: str, cls: type[Learner], encoding: str, inputs: pd.DataFrame, y_raw: pd.Series
    ) -> Matrix:
        """Fit the preprocessing of ``key`` and encode every training row with it."""
        started = time.perf_counter()
        options: dict[str, Any] = {}
        if encoding == "fine":
            options["rare_min_frequency"] = _FINE_MIN_COUNT
        elif encoding != "native":
            options["column_encodings"] = dict.fromkeys(self.many_valued_, encoding)
        pre = Preprocessor(
            schema=self.schema_,
            encoding=cls.encoding,
            scale=cls.needs_scaling,
            random_state=self.random_state,
            **options,
        )
        X = pre.fit_transform(inputs, y_raw)  # target encodings out of fold
        self.preprocessors_[key] = pre
        return Matrix(
            X,
            tuple(pre.categorical_features_),
            target_codes=tuple(pre.target_codes(inputs, y_raw)),
            smoothing=float(pre.target_smoothing),
            inner_folds=int(pre.target_folds),
            random_state=self.random_state,
            seconds=time.perf_counter() - started,
        )

    def _choose(self, y: NDArray[Any], budget: Budget) -> list[tuple[TrialResult, float]]:
        complete = sorted((r for r in self.results_ if r.complete), key=lambda r: r.loss)
        if not complete:
            return [(self._best_partial(), 1.0)]
        best = complete[0]
        self.best_value_ = best.value
        self.ensemble_ = False
        if not self.ensemble or len(complete) < 2:
            return [(best, 1.0)]
        candidates = complete[:ENSEMBLE_CANDIDATES]
        rounds = self._affordable_rounds(candidates, len(y), budget)
        if rounds < 2:
            return [(best, 1.0)]
        scored = self._scored  # out-of-fold predictions of the same rows, and only those
        predictions = [np.asarray(r.oof)[scored] for r in candidates]
        weights, loss = select_ensemble(
            predictions, y[scored].astype(float), self.metric_.loss, rounds=rounds
        )
        if loss >= best.loss - 1e-6 or len(weights) < 2:
            return [(best, 1.0)]
        self.ensemble_ = True
        self.best_value_ = -loss if self.metric_.greater_is_better else loss
        return [(candidates[i], w) for i, w in weights.items()]

    def _best_partial(self) -> TrialResult:
        """The best trial stopped for time after scoring some folds, when none finished.

        A tight budget or a busy machine can stop every trial after its first folds
        (their pace said the rest would not fit). Their scored folds still rank them:
        the best is refitted like a finished trial, and its value is the mean over the
        folds it scored (it says how many). Only when no fold at all was scored is
        there nothing to choose.
        """
        partial = [r for r in self.results_ if r.status == "TIMEOUT" and r.fold_values]
        if not partial:
            failures = "; ".join(sorted({r.error or r.status for r in self.results_}))[:500]
            raise ValidationError(
                f"no model could be trained within the budget ({failures or 'no trial finished'}); "
                "give training more time (--budget) or fewer rows"
            )
        sign = -1.0 if self.metric_.greater_is_better else 1.0
        best = min(partial, key=lambda r: sign * float(np.mean(r.fold_values)))
        best.value = float(np.mean(best.fold_values))
        best.loss = sign * best.value
        self.best_value_ = best.value
        self.ensemble_ = False
        _LOG.warning(
            "no trial finished within the budget; chose trial %d (%s), scored on %d of its "
            "folds, and refit it on every row",
            best.number,
            best.learner,
            len(best.fold_values),
        )
        return best

    def _affordable_rounds(self, candidates: list[TrialResult], rows: int, budget: Budget) -> int:
        """Rounds of ensemble selection that leave time to refit the best and predict."""
        best = candidates[0]
        after = SAFETY * (refit_estimate(best, rows) + best.predict_estimate(rows))
        per_round = len(candidates) * max(r.metric_seconds for r in candidates) * SAFETY
        left = budget.remaining() - after
        return int(min(ENSEMBLE_ROUNDS, left / per_round if per_round > 0 else ENSEMBLE_ROUNDS))

    def _refit(
        self,
        members: list[tuple[TrialResult, float]],
        matrix: Any,
        y: NDArray[Any],
        budget: Budget,
    ) -> ModelPipeline:
        """Refit the members on all rows, heaviest first, each within its share of the time.

        What is left of the budget, less the time predicting as many rows again will take,
        is shared in proportion to the members' estimated refit times; a member that cannot
        have its share (after the first) is left out and the weights renormalised. Boosting
        and forests stop growing at their share, so the refit ends within the budget. A
        holdout trial (large data) whose refit would not fit keeps the model it trained;
        it shares the time only with later members that have no such model, so the
        heaviest holdout member gets the one refit the search kept time for.
        """
        rows = len(y)
        ordered = sorted(members, key=lambda member: -member[1])
        fitted: list[Member] = []
        for index, (trial, weight) in enumerate(ordered):
            rest = ordered[index:]
            predicting = SAFETY * sum(t.predict_estimate(rows) for t, _ in rest)
            left = budget.remaining() - predicting - 0.01 * budget.seconds
            needed = [SAFETY * refit_estimate(t, rows) for t, _ in rest]
            if trial.model is not None:
                # A holdout trial may keep its model, so it shares the time only with the
                # later members that must be refitted (the search reserved one refit).
                needed = needed[:1] + [
                    n for n, (t, _) in zip(needed[1:], rest[1:], strict=True) if t.model is None
                ]
            share = left * needed[0] / sum(needed) if sum(needed) > 0 else left
            if trial.model is not None and share < needed[0]:
                # A holdout trial's model, fitted on 80% of the rows, beats one cut short
                # (and beats leaving the member out).
                key = _preprocessor_key(get_learner(trial.learner), trial.encoding)
                fitted.append(Member(trial.model, key, weight))
                continue
            if fitted and needed[0] > left:
                continue
            fitted.append(self._refit_one(trial, weight, matrix, y, max(0.1, share)))
        total = sum(m.weight for m in fitted)
        fitted = [Member(m.learner, m.preprocessor, m.weight / total) for m in fitted]
        used = {m.preprocessor for m in fitted}
        preprocessors = {k: p for k, p in self.preprocessors_.items() if k in used}
        return ModelPipeline(
            task=self.task_, preprocessors=preprocessors, members=fitted, classes=self.classes_
        )

    def _refit_one(
        self, trial: TrialResult, weight: float, matrix: Any, y: NDArray[Any], seconds: float
    ) -> Member:
        cls = get_learner(trial.learner)
        params = dict(trial.params)
        if trial.iterations:  # boosting: the rounds the folds stopped at, a fifth more
            folds = len(trial.iterations)
            rounds = int(np.mean(trial.iterations) * (1 + 1 / max(folds, 2)))
            params = cls.refit_params(params, max(10, rounds))
        data = matrix(trial.learner, trial.encoding)
        learner = cls(
            task=self.task_,
            params=params,
            random_state=self.random_state,
            class_weight=_weight(trial.class_weight),
            n_jobs=self.threads_,
        )
        learner.fit(data.X, y, categorical_features=data.categorical, time_limit_s=seconds)
        return Member(learner, _preprocessor_key(cls, trial.encoding), weight)

    # -- results ---------------------------------------------------------------------

    @property
    def leaderboard_(self) -> list[dict[str, Any]]:
        """Every trial, best first: learner, where it came from, score, time, status."""
        ranked = sorted(self.results_, key=lambda r: (not r.complete, r.loss))
        return [
            {
                "trial": r.number,
                "learner": r.learner,
                "source": r.source,
                "class_weight": r.class_weight,
                "encoding": r.encoding,
                self.metric_.name: r.value,
                "seconds": round(r.seconds, 3),
                "status": r.status,
                "params": r.params,
                "error": r.error,
            }
            for r in ranked
        ]

    def leaderboard_frame(self) -> pd.DataFrame:
        """:attr:`leaderboard_` as a DataFrame, one row per trial, best first."""
        return pd.DataFrame(self.leaderboard_)

    def predict(self, data: Any) -> NDArray[Any]:
        """Labels (classifiers) or values (regression) for new rows."""
        return self.pipeline_.predict(data)

    def predict_proba(self, data: Any) -> NDArray[np.float64]:
        """Class probabilities, columns in the order of ``classes_``."""
        return self.pipeline_.predict_proba(data)

    @property
    def validation_report(self) -> ValidationReport:
        """The data validation report of the last :meth:`fit`."""
        return self.validation_


def _table_and_target(X: Any, y: Any) -> tuple[pd.DataFrame, str]:
    """``(frame, target column)`` from ``fit(frame, "name")`` or ``fit(X, y)``."""
    frame = as_pandas(X, what="AutoML.fit's X")
    if isinstance(y, str):
        return frame, y
    values = as_pandas_series(y, what="AutoML.fit's y")
    if len(values) != len(frame):
        raise ValidationError(
            f"AutoML.fit got {len(frame)} rows in X and {len(values)} values in y; "
            "expected one target value per row"
        )
    name = str(values.name) if values.name is not None else "target"
    if name in frame.columns:
        raise ValidationError(
            f"y is named {name!r}, which is also a column of X; rename one of them"
        )
    return frame.assign(**{name: values.to_numpy()}), name


def _builtin(name: str) -> type[Learner] | None:
    return next((cls for cls in BUILTIN_LEARNERS if cls.name == name), None)


def _weight(value: str | None) -> Literal["balanced"] | None:
    return "balanced" if value == "balanced" else None


def _threads(n_jobs: int, shape: tuple[int, int]) -> int:
    # Below ~2 million cells a second thread barely helps, and on a busy machine OpenMP
    # threads that wait for a descheduled partner can slow a fit a hundredfold.
    return 1 if shape[0] * max(shape[1], 1) < 2_000_000 else n_jobs


def _preprocessor_key(cls: type[Learner], encoding: str = "native") -> str:
    """``native``, ``onehot-scaled``, ``native-target``...: one preprocessor per need."""
    key = f"{cls.encoding}{'-scaled' if cls.needs_scaling else ''}"
    return key if encoding == "native" else f"{key}-{encoding}"
