"""CatBoost: oblivious trees with ordered target statistics for categorical columns.

A many-valued categorical column (a commune, a player, a household) has levels with few
rows each; CatBoost encodes each level by the target mean of the rows *before* it in a
random order (ordered target statistics), so a level's own target never leaks into its
encoding. The native categorical columns made by :mod:`modelcycle.features` are given to
CatBoost as categories (``cat_features``), the others as numbers. Saved in CatBoost's own
binary model format (``.cbm``) plus ``learner.json``; loaded with CatBoost's loader after
the hash check, never unpickled. CatBoost is not a core dependency
(``pip install 'modelcycle[catboost]'``); it is imported when a model is fitted or loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import IntegrityError, Task
from modelcycle.learners._base import Learner, ValidationSet, import_library
from modelcycle.learners._checks import balanced_weights

if TYPE_CHECKING:  # search spaces are drawn while training; a server loads none
    import optuna

_MODEL_FILE = "model.cbm"

_LOSSES = {Task.BINARY: "Logloss", Task.MULTICLASS: "MultiClass", Task.REGRESSION: "RMSE"}
#: Names ``params`` may hold and that are passed to CatBoost; the loss, threads and seed
#: come from the constructor, ``iterations`` and ``early_stopping_rounds`` are read here.
_TREE_PARAMS = frozenset(
    {
        "learning_rate",
        "depth",
        "l2_leaf_reg",
        "random_strength",
        "bagging_temperature",
        "border_count",
        "one_hot_max_size",
        "max_ctr_complexity",
        "min_data_in_leaf",
        "rsm",
    }
)


class CatBoostLearner(Learner):
    """Gradient-boosted oblivious trees from CatBoost, with ordered categorical statistics.

    ``params`` takes CatBoost's names (``learning_rate``, ``depth``, ``l2_leaf_reg``,
    ``random_strength``, ``bagging_temperature``, ``one_hot_max_size``,
    ``max_ctr_complexity``...), plus ``iterations`` (most rounds) and
    ``early_stopping_rounds`` (rounds without improvement on the validation set before
    stopping; 0 disables). With a validation set the model keeps its best round.
    ``class_weight="balanced"`` weighs every row by ``n / (k * count of its class)``.

    Attributes
    ----------
    model_ : catboost.CatBoost
        The trained model.

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> learner = CatBoostLearner(task=Task.BINARY, params={"iterations": 20}, random_state=0)
    >>> learner.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    name = "catboost"
    encoding = "native"
    needs_scaling = False
    handles_missing = True
    library = "catboost"
    extra = "catboost"
    # One 5-fold trial takes 15-25 s on the identifier data sets of the benchmark and
    # scores below LightGBM and XGBoost: at budgets of seconds it does not earn its place.
    default_search = "never"
    param_names = _TREE_PARAMS | {"iterations", "early_stopping_rounds"}

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return CatBoost's tree defaults, a fixed learning rate and early stopping."""
        return {
            "learning_rate": 0.08,
            "depth": 6,
            "l2_leaf_reg": 3.0,
            "random_strength": 1.0,
            "border_count": 254,
            "iterations": 500,
            "early_stopping_rounds": 50,
        }

    @classmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw learning rate, depth and regularisation.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"learning_rate": 0.1, "depth": 6,
        ...     "l2_leaf_reg": 3.0, "random_strength": 1.0, "bagging_temperature": 0.5})
        >>> CatBoostLearner.search_space(trial, Task.BINARY)["depth"]
        6
        """
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "depth": trial.suggest_int("depth", 3, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
            "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 1.0),
        }

    @classmethod
    def categorical_space(cls, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw one-hot coding of small categoricals and the combinations of categories.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"one_hot_max_size": 4, "max_ctr_complexity": 2})
        >>> CatBoostLearner.categorical_space(trial)["max_ctr_complexity"]
        2
        """
        return {
            "one_hot_max_size": trial.suggest_int("one_hot_max_size", 2, 16, log=True),
            "max_ctr_complexity": trial.suggest_int("max_ctr_complexity", 1, 3),
        }

    @classmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return defaults, a shallow regularised model and a slower deeper one.

        Examples
        --------
        >>> [c["depth"] for c in CatBoostLearner.portfolio(Task.BINARY, 500, 10)]
        [6, 4, 6]
        """
        return [
            {"depth": 6},
            {"depth": 4, "l2_leaf_reg": 10.0, "learning_rate": 0.1},
            {
                "depth": 8 if n_rows >= 10_000 else 6,
                "learning_rate": 0.04,
                "iterations": 1000,
            },
        ]

    @classmethod
    def refit_params(cls, params: dict[str, Any], rounds: int) -> dict[str, Any]:
        """``params`` fitting exactly ``rounds`` rounds without early stopping."""
        return {**params, "iterations": rounds, "early_stopping_rounds": 0}

    # -- fitting ---------------------------------------------------------------------

    def _train_params(self) -> dict[str, Any]:
        task = Task(self.task)
        params = {k: v for k, v in self.params_.items() if k in _TREE_PARAMS}
        params["loss_function"] = _LOSSES[task]
        if task is Task.MULTICLASS:
            params["classes_count"] = self.n_classes_
        params["iterations"] = int(self.params_["iterations"])
        params["thread_count"] = self.n_jobs
        params["random_seed"] = 0 if self.random_state is None else int(self.random_state)
        params["allow_writing_files"] = False  # CatBoost logs into the working folder otherwise
        params["verbose"] = False
        return params

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        catboost = import_library(self)
        table = balanced_weights(y, self.n_classes_) if self.class_weight == "balanced" else None
        train = self._pool(X, y, None if table is None else table[y])
        patience = int(self.params_["early_stopping_rounds"])
        eval_set = None
        if valid is not None:
            weight = None if table is None else table[valid[1]]
            eval_set = self._pool(valid[0], valid[1], weight)
        self.model_ = catboost.CatBoost(self._train_params())
        self.model_.fit(
            train,
            eval_set=eval_set,
            early_stopping_rounds=patience if eval_set is not None and patience > 0 else None,
            use_best_model=eval_set is not None,
            callbacks=[_Deadline(deadline)] if deadline is not None else None,
        )
        self.n_iterations_ = int(self.model_.tree_count_)
        self.best_iteration_ = self.n_iterations_

    def _pool(
        self, X: NDArray[np.float64], y: NDArray[Any] | None = None, weight: Any = None
    ) -> Any:
        """A CatBoost ``Pool``: numeric columns as float32, category codes as UTF-8 bytes."""
        catboost = import_library(self)
        categorical = self.categorical_features_
        numeric = [i for i in range(X.shape[1]) if i not in set(categorical)]
        codes = X[:, categorical]
        # A missing category is a level of its own, "-1"; codes are whole numbers.
        levels = np.where(np.isnan(codes), -1, codes).astype(np.int64).astype(np.bytes_)
        data = catboost.FeaturesData(
            num_feature_data=np.ascontiguousarray(X[:, numeric], dtype=np.float32),
            cat_feature_data=levels.astype(object) if categorical else None,
        )
        return catboost.Pool(data, label=y, weight=weight, thread_count=self.n_jobs)

    # -- predicting ------------------------------------------------------------------

    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out = self.model_.predict(self._pool(X), prediction_type="RawFormulaVal", thread_count=1)
        return np.asarray(out, dtype=np.float64)

    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out = self.model_.predict(self._pool(X), prediction_type="Probability", thread_count=1)
        proba = np.asarray(out, dtype=np.float64)
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        result: NDArray[np.float64] = proba / proba.sum(axis=1, keepdims=True)
        return result

    # -- persistence -----------------------------------------------------------------

    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        self.model_.save_model(str(folder / _MODEL_FILE), format="cbm")
        return [_MODEL_FILE], {}

    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        catboost = import_library(self)
        path = folder / _MODEL_FILE
        try:
            self.model_ = catboost.CatBoost()
            self.model_.load_model(str(path), format="cbm")
        except catboost.CatBoostError as exc:
            raise IntegrityError(f"{str(path)!r} is not a CatBoost model: {exc}") from None
        features = len(self.model_.feature_names_ or [])
        if features != self.n_features_in_:
            raise IntegrityError(
                f"{str(path)!r} has {features} features; learner.json says {self.n_features_in_}"
            )


class _Deadline:
    """A CatBoost callback that stops training once ``time.monotonic()`` passes ``deadline``."""

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock

    def after_iteration(self, info: Any) -> bool:
        return self._clock() < self.deadline  # CatBoost goes on while this is True
