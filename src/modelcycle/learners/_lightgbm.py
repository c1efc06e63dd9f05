"""LightGBM through its native API: the first-choice learner for tables.

Trained with :func:`lightgbm.train` (not the scikit-learn wrapper) so early stopping,
native categorical features, per-sample weights and the time limit are all
explicit. Saved as LightGBM's own model text plus ``learner.json``; never pickled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners._base import Learner, ValidationSet
from modelcycle.learners._checks import balanced_weights

if TYPE_CHECKING:  # search spaces are drawn while training; a server loads none
    import optuna

_MODEL_FILE = "model.txt"

_OBJECTIVES = {
    Task.BINARY: ("binary", "binary_logloss"),
    Task.MULTICLASS: ("multiclass", "multi_logloss"),
    Task.REGRESSION: ("regression", "l2"),
}

# Set from the task and the constructor; a value in ``params`` would contradict them.
_RESERVED = {
    "objective": "task",
    "objective_type": "task",
    "app": "task",
    "application": "task",
    "loss": "task",
    "num_class": "task",
    "num_classes": "task",
    "num_threads": "n_jobs",
    "num_thread": "n_jobs",
    "nthread": "n_jobs",
    "nthreads": "n_jobs",
    "n_jobs": "n_jobs",
    "seed": "random_state",
    "random_seed": "random_state",
    "random_state": "random_state",
    "is_unbalance": "class_weight",
    "scale_pos_weight": "class_weight",
}
# Aliases of the two keys this learner reads itself; one spelling avoids ambiguity.
_RENAMED = {
    alias: "num_iterations"
    for alias in (
        "num_iteration",
        "n_iter",
        "num_tree",
        "num_trees",
        "num_round",
        "num_rounds",
        "nrounds",
        "num_boost_round",
        "n_estimators",
        "max_iter",
    )
} | {alias: "early_stopping_round" for alias in ("early_stopping_rounds", "early_stopping")}

#: Below this many rows a prediction runs on one thread.
_PARALLEL_PREDICT_ROWS = 2_000


class LightGBMLearner(Learner):
    """Gradient-boosted trees from LightGBM, with early stopping and native categoricals.

    ``params`` takes LightGBM's parameter names (``learning_rate``, ``num_leaves``,
    ``min_data_in_leaf``, ...), plus ``num_iterations`` (most boosting rounds) and
    ``early_stopping_round`` (rounds without improvement on the validation set
    before stopping; 0 disables). The objective, threads and seed come from
    ``task``, ``n_jobs`` and ``random_state``; training is ``deterministic``.
    ``class_weight="balanced"`` weighs every row by ``n / (k * count of its class)``,
    in the validation set too, so early stopping watches the weighted loss.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The trained model, holding ``best_iteration_`` rounds.
    evals_result_ : dict
        Validation loss per round, ``{"valid": {metric: [...]}}`` (empty without a
        validation set; not saved).

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> learner = LightGBMLearner(task=Task.BINARY, params={"num_iterations": 20}, random_state=0)
    >>> learner.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    name = "lightgbm"
    encoding = "native"
    needs_scaling = False
    handles_missing = True

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return LightGBM's usual defaults, a lower learning rate and early stopping."""
        return {
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.9,
            "bagging_fraction": 1.0,
            "bagging_freq": 0,
            "lambda_l1": 0.0,
            "lambda_l2": 0.0,
            "num_iterations": 500,
            "early_stopping_round": 50,
            "verbosity": -1,
        }

    @classmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw learning rate, tree size, sampling and regularisation.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({
        ...     "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 10,
        ...     "feature_fraction": 0.8, "bagging_fraction": 0.9,
        ...     "lambda_l1": 1e-3, "lambda_l2": 1.0})
        >>> LightGBMLearner.search_space(trial, Task.BINARY)["num_leaves"]
        15
        """
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 2, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": 1,
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
        }

    @classmethod
    def categorical_space(cls, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw LightGBM's regularisation of categorical splits.

        A many-valued column's levels have few rows each: smoothing of the per-level
        statistics, L2 on categorical splits, the rows a group of levels needs and the most
        levels one split may send left decide whether the column helps or overfits.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"cat_smooth": 10.0, "cat_l2": 10.0,
        ...     "min_data_per_group": 100, "max_cat_threshold": 32})
        >>> LightGBMLearner.categorical_space(trial)["max_cat_threshold"]
        32
        """
        return {
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 100.0, log=True),
            "cat_l2": trial.suggest_float("cat_l2", 1.0, 100.0, log=True),
            "min_data_per_group": trial.suggest_int("min_data_per_group", 5, 200, log=True),
            "max_cat_threshold": trial.suggest_int("max_cat_threshold", 8, 64, log=True),
        }

    @classmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return defaults, a shallow regularised model and a larger bagged one.

        Leaves and minimum leaf sizes grow with the rows; wide data samples fewer
        features per tree.

        Examples
        --------
        >>> [c["num_leaves"] for c in LightGBMLearner.portfolio(Task.BINARY, 500, 10)]
        [31, 8, 31]
        """
        leaf_rows = int(np.clip(n_rows // 100, 2, 20))
        features = 0.5 if n_features > 100 else 0.8
        return [
            {"num_leaves": 31, "min_data_in_leaf": leaf_rows},
            {
                "num_leaves": 8,
                "min_data_in_leaf": leaf_rows * 2,
                "feature_fraction": features,
                "lambda_l2": 1.0,
            },
            {
                "learning_rate": 0.03,
                "num_leaves": 127 if n_rows >= 100_000 else 63 if n_rows >= 10_000 else 31,
                "min_data_in_leaf": leaf_rows,
                "feature_fraction": features,
                "bagging_fraction": 0.8,
                "bagging_freq": 1,
                "num_iterations": 1000,
            },
        ]

    @classmethod
    def refit_params(cls, params: dict[str, Any], rounds: int) -> dict[str, Any]:
        """``params`` fitting exactly ``rounds`` rounds without early stopping."""
        return {**params, "num_iterations": rounds, "early_stopping_round": 0}

    @classmethod
    def from_booster(
        cls,
        booster: lgb.Booster,
        *,
        task: Task,
        n_classes: int,
        params: dict[str, Any],
        categorical_features: list[int],
        random_state: int | None = None,
    ) -> LightGBMLearner:
        """A fitted learner around a booster trained elsewhere (by ``lightgbm.dask``).

        ``params`` are the parameters it was trained with (recorded, not checked);
        every round of the booster is used. It saves, loads and predicts as a learner
        fitted here does.
        """
        learner = cls(task=task, params=dict(params), random_state=random_state)
        learner.params_ = {**cls.default_params(task), **params}
        learner.n_classes_ = n_classes
        learner.categorical_features_ = list(categorical_features)
        learner.booster_ = booster
        learner.n_iterations_ = booster.current_iteration()
        learner.best_iteration_ = booster.current_iteration()
        learner.n_features_in_ = booster.num_feature()
        return learner

    # -- fitting ---------------------------------------------------------------------

    def _train_params(self) -> dict[str, Any]:
        params = {_RENAMED.get(k, k): v for k, v in self.params_.items()}
        known = _known_params()
        for key in params:
            if key in _RESERVED:
                raise ValidationError(
                    f"learner 'lightgbm' sets {key!r} from its {_RESERVED[key]!r} argument; "
                    f"remove {key!r} from params"
                )
            if known and key not in known:
                raise ValidationError(
                    f"learner 'lightgbm' has no parameter {key!r}; expected a LightGBM "
                    "parameter name (https://lightgbm.readthedocs.io/en/latest/Parameters.html)"
                )
        self.params_ = dict(params)
        task = Task(self.task)
        params["objective"], default_metric = _OBJECTIVES[task]
        params.setdefault("metric", default_metric)
        if task is Task.MULTICLASS:
            params["num_class"] = self.n_classes_
        params["num_threads"] = max(self.n_jobs, 0)
        params["deterministic"] = True
        if not params.get("force_col_wise"):
            params["force_row_wise"] = True
        if self.random_state is not None:
            params["seed"] = int(self.random_state)
        for key in ("num_iterations", "early_stopping_round"):
            params.pop(key)
        return params

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        params = self._train_params()
        train, valid_sets = self._datasets(X, y, valid)
        self.evals_result_: dict[str, dict[str, list[float]]] = {}
        progress = _Progress(deadline)
        callbacks: list[Any] = [progress, lgb.record_evaluation(self.evals_result_)]
        patience = int(self.params_["early_stopping_round"])
        if valid_sets and patience > 0:
            callbacks.append(lgb.early_stopping(patience, first_metric_only=True, verbose=False))
        self.booster_ = lgb.train(
            params,
            train,
            num_boost_round=int(self.params_["num_iterations"]),
            valid_sets=valid_sets,
            valid_names=["valid"] * len(valid_sets),
            callbacks=callbacks,
        )
        self.n_iterations_ = progress.iterations
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()

    def _datasets(
        self, X: NDArray[np.float64], y: NDArray[Any], valid: ValidationSet | None
    ) -> tuple[lgb.Dataset, list[lgb.Dataset]]:
        """The training set and the validation sets, weighted by class when balanced."""
        table = None
        if self.class_weight == "balanced":
            table = balanced_weights(y, self.n_classes_)
        train = lgb.Dataset(
            X,
            label=y,
            weight=None if table is None else table[y],
            categorical_feature=self.categorical_features_,
        )
        if valid is None:
            return train, []
        weight = None if table is None else table[valid[1]]
        return train, [lgb.Dataset(valid[0], label=valid[1], weight=weight, reference=train)]

    # -- predicting ------------------------------------------------------------------

    def _raw(self, X: NDArray[np.float64], **options: Any) -> NDArray[np.float64]:
        # Small matrices (serving, micro-batches) predict fastest on one thread: starting
        # OpenMP workers costs more than the trees, and far more on a busy machine.
        if len(X) < _PARALLEL_PREDICT_ROWS:
            options.setdefault("num_threads", 1)
        out = self.booster_.predict(X, num_iteration=self.best_iteration_, **options)
        return np.asarray(out, dtype=np.float64)

    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._raw(X)

    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        proba = self._raw(X)
        if Task(self.task) is Task.BINARY:
            return np.column_stack([1.0 - proba, proba])
        return proba

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """LightGBM's exact TreeSHAP contributions (``pred_contrib``), bias column last.

        See :meth:`Learner.contributions` for the shapes; each row sums to the raw
        score (log-odds, per-class score or value).
        """
        matrix = self._check_rows(X)
        contrib = self._raw(matrix, pred_contrib=True)
        if Task(self.task) is Task.MULTICLASS:
            return contrib.reshape(matrix.shape[0], self.n_classes_, self.n_features_in_ + 1)
        return contrib

    # -- persistence -----------------------------------------------------------------

    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        text = self.booster_.model_to_string(num_iteration=self.best_iteration_)
        (folder / _MODEL_FILE).write_text(text)
        return [_MODEL_FILE], {}

    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        try:
            self.booster_ = lgb.Booster(model_str=(folder / _MODEL_FILE).read_text())
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise IntegrityError(
                f"{str(folder / _MODEL_FILE)!r} is not a LightGBM model: {exc}"
            ) from None
        if self.booster_.num_feature() != self.n_features_in_:
            raise IntegrityError(
                f"{str(folder / _MODEL_FILE)!r} has {self.booster_.num_feature()} features; "
                f"learner.json says {self.n_features_in_}"
            )


def _known_params() -> frozenset[str]:
    """Every parameter name and alias LightGBM knows (empty if it cannot say)."""
    aliases = getattr(getattr(lgb.basic, "_ConfigAliases", None), "_get_all_param_aliases", None)
    if aliases is None:  # a private helper of LightGBM: without it, LightGBM checks alone
        return frozenset()
    return frozenset(name for names in aliases().values() for name in names)


class _Progress:
    """Counts rounds, remembers the best one, and stops training at the deadline.

    Runs after ``record_evaluation`` (order 20) and before ``early_stopping``
    (order 30), so the count includes the round on which early stopping fires.
    """

    order = 25
    before_iteration = False

    def __init__(self, deadline: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self.iterations = 0
        self._best_round = 0
        self._best_score: float | None = None
        self._best_results: list[Any] = []

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        self.iterations = env.iteration - env.begin_iteration + 1
        results = list(env.evaluation_result_list or [])
        if not results:
            self._best_round = env.iteration
        elif self._improves(results[0]):
            self._best_round, self._best_score = env.iteration, float(results[0][2])
            self._best_results = results
        if self.deadline is not None and self._clock() >= self.deadline:
            raise lgb.callback.EarlyStopException(self._best_round, self._best_results)

    def _improves(self, result: Any) -> bool:
        score, higher_is_better = float(result[2]), bool(result[3])
        if self._best_score is None:
            return True
        return score > self._best_score if higher_is_better else score < self._best_score
