"""XGBoost through its native API: histogram trees grown depth-wise, an optional learner.

Trained with :func:`xgboost.train` on a ``DMatrix`` (``tree_method="hist"``), so early
stopping, native categorical splits (``enable_categorical`` with the columns marked
``"c"``), per-row weights and the time limit are explicit. Saved as XGBoost's own JSON
model plus ``learner.json``; loaded only with ``Booster.load_model`` after the hash check,
never unpickled. XGBoost is not a core dependency (``pip install 'modelcycle[xgboost]'``);
it is imported when a model is fitted or loaded.
"""

from __future__ import annotations

import json
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

_MODEL_FILE = "model.json"

_OBJECTIVES = {
    Task.BINARY: ("binary:logistic", "logloss"),
    Task.MULTICLASS: ("multi:softprob", "mlogloss"),
    Task.REGRESSION: ("reg:squarederror", "rmse"),
}
#: Names ``params`` may hold: the tree and regularisation settings, plus the rounds and
#: the early-stopping patience this learner reads itself. The objective, threads, seed,
#: tree method and class weights come from the constructor.
_TREE_PARAMS = frozenset(
    {
        "learning_rate",
        "max_depth",
        "max_leaves",
        "grow_policy",
        "min_child_weight",
        "gamma",
        "subsample",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "reg_alpha",
        "reg_lambda",
        "max_bin",
        "max_delta_step",
        "max_cat_to_onehot",
        "max_cat_threshold",
    }
)


class XGBoostLearner(Learner):
    """Gradient-boosted trees from XGBoost (``hist``), with early stopping and categoricals.

    ``params`` takes XGBoost's names for the trees (``learning_rate``, ``max_depth``,
    ``min_child_weight``, ``subsample``, ``colsample_bytree``, ``reg_alpha``,
    ``reg_lambda``, ``max_cat_to_onehot``, ``max_cat_threshold``...), plus
    ``num_boost_round`` (most rounds) and ``early_stopping_rounds`` (rounds without
    improvement on the validation set before stopping; 0 disables). Native categorical
    columns are split on by category (``enable_categorical``). ``class_weight="balanced"``
    weighs every row by ``n / (k * count of its class)``, in the validation set too.

    Attributes
    ----------
    booster_ : xgboost.Booster
        The trained model, holding ``best_iteration_`` rounds after saving and loading.

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> learner = XGBoostLearner(task=Task.BINARY, params={"num_boost_round": 20}, random_state=0)
    >>> learner.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    name = "xgboost"
    encoding = "native"
    needs_scaling = False
    handles_missing = True
    library = "xgboost"
    extra = "xgboost"
    # benchmarks/automl_vs_flaml.py --datasets identifiers: a second booster that splits
    # many-valued columns by category helps there (docs/automl.md); elsewhere unmeasured.
    default_search = "many_valued"
    param_names = _TREE_PARAMS | {"num_boost_round", "early_stopping_rounds"}

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return XGBoost's usual tree defaults with 500 rounds and early stopping."""
        return {
            "learning_rate": 0.1,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 0.0,
            "reg_lambda": 1.0,
            "max_bin": 256,
            "num_boost_round": 500,
            "early_stopping_rounds": 50,
        }

    @classmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw learning rate, depth, leaf weight, sampling and regularisation.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({
        ...     "learning_rate": 0.1, "max_depth": 4, "min_child_weight": 1.0,
        ...     "subsample": 0.8, "colsample_bytree": 0.8,
        ...     "reg_alpha": 1e-3, "reg_lambda": 1.0})
        >>> XGBoostLearner.search_space(trial, Task.BINARY)["max_depth"]
        4
        """
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 1e-3, 100.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 10.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 10.0, log=True),
        }

    @classmethod
    def categorical_space(cls, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Draw how categorical columns are split: one-hot below a level count, else grouped.

        Examples
        --------
        >>> import optuna
        >>> trial = optuna.trial.FixedTrial({"max_cat_to_onehot": 4, "max_cat_threshold": 32})
        >>> XGBoostLearner.categorical_space(trial)["max_cat_threshold"]
        32
        """
        return {
            "max_cat_to_onehot": trial.suggest_int("max_cat_to_onehot", 1, 16, log=True),
            "max_cat_threshold": trial.suggest_int("max_cat_threshold", 8, 64, log=True),
        }

    @classmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return defaults, a shallow regularised model and a deeper bagged one.

        Examples
        --------
        >>> [c["max_depth"] for c in XGBoostLearner.portfolio(Task.BINARY, 500, 10)]
        [6, 3, 6]
        """
        features = 0.5 if n_features > 100 else 0.8
        return [
            {"max_depth": 6},
            {"max_depth": 3, "min_child_weight": 5.0, "colsample_bytree": features},
            {
                "learning_rate": 0.05,
                "max_depth": 8 if n_rows >= 1_000 else 6,
                "min_child_weight": 2.0,
                "subsample": 0.8,
                "colsample_bytree": features,
                "num_boost_round": 1000,
            },
        ]

    @classmethod
    def refit_params(cls, params: dict[str, Any], rounds: int) -> dict[str, Any]:
        """``params`` fitting exactly ``rounds`` rounds without early stopping."""
        return {**params, "num_boost_round": rounds, "early_stopping_rounds": 0}

    # -- fitting ---------------------------------------------------------------------

    def _train_params(self) -> dict[str, Any]:
        task = Task(self.task)
        params = {k: v for k, v in self.params_.items() if k in _TREE_PARAMS}
        params["objective"], params["eval_metric"] = _OBJECTIVES[task]
        if task is Task.MULTICLASS:
            params["num_class"] = self.n_classes_
        params["tree_method"] = "hist"
        params["nthread"] = self.n_jobs
        params["seed"] = 0 if self.random_state is None else int(self.random_state)
        params["verbosity"] = 0
        return params

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        xgb = import_library(self)
        table = balanced_weights(y, self.n_classes_) if self.class_weight == "balanced" else None
        train = self._matrix(X, y, None if table is None else table[y])
        evals = []
        if valid is not None:
            weight = None if table is None else table[valid[1]]
            evals.append((self._matrix(valid[0], valid[1], weight), "valid"))
        progress = _deadline_callback(xgb, deadline)
        patience = int(self.params_["early_stopping_rounds"])
        self.booster_ = xgb.train(
            self._train_params(),
            train,
            num_boost_round=int(self.params_["num_boost_round"]),
            evals=evals,
            early_stopping_rounds=patience if evals and patience > 0 else None,
            callbacks=[progress],
            verbose_eval=False,
        )
        self._limit_threads()
        self.n_iterations_ = int(self.booster_.num_boosted_rounds())
        best = getattr(self.booster_, "best_iteration", None) if evals and patience > 0 else None
        self.best_iteration_ = self.n_iterations_ if best is None else int(best) + 1

    def _matrix(self, X: NDArray[np.float64], y: NDArray[Any], weight: Any = None) -> Any:
        """A ``DMatrix`` with the categorical columns marked ``"c"`` for category splits."""
        xgb = import_library(self)
        categorical = set(self.categorical_features_)
        types = ["c" if i in categorical else "q" for i in range(X.shape[1])]
        return xgb.DMatrix(
            X,
            label=y,
            weight=weight,
            feature_types=types,
            enable_categorical=bool(categorical),
            missing=np.nan,
            nthread=self.n_jobs,
        )

    def _limit_threads(self) -> None:
        # A loaded booster would predict on every core: starting them costs more than the
        # trees for a served row, and breaks n_jobs for a trainer running trials at once.
        if self.n_jobs != -1:
            self.booster_.set_param({"nthread": self.n_jobs})

    # -- predicting ------------------------------------------------------------------

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        # In place: no DMatrix (half the time of a served row), thread-safe, and the
        # booster knows which columns are categorical.
        out = self.booster_.inplace_predict(
            X, iteration_range=(0, int(self.best_iteration_ or 0)), missing=np.nan
        )
        return np.asarray(out, dtype=np.float64)

    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._raw(X)

    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        proba = self._raw(X)
        if Task(self.task) is Task.BINARY:
            return np.column_stack([1.0 - proba, proba])
        # float32 probabilities, renormalised in float64 so each row sums to 1.
        result: NDArray[np.float64] = proba / proba.sum(axis=1, keepdims=True)
        return result

    # -- persistence -----------------------------------------------------------------

    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        rounds = int(self.best_iteration_ or 0)
        kept = self.booster_[:rounds] if 0 < rounds < (self.n_iterations_ or 0) else self.booster_
        kept.save_model(str(folder / _MODEL_FILE))
        return [_MODEL_FILE], {}

    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        xgb = import_library(self)
        path = folder / _MODEL_FILE
        try:
            json.loads(path.read_bytes())  # the JSON model format, nothing else
            self.booster_ = xgb.Booster()
            self.booster_.load_model(str(path))
        except (ValueError, xgb.core.XGBoostError) as exc:
            raise IntegrityError(f"{str(path)!r} is not an XGBoost JSON model: {exc}") from None
        self._limit_threads()
        if self.booster_.num_features() != self.n_features_in_:
            raise IntegrityError(
                f"{str(path)!r} has {self.booster_.num_features()} features; "
                f"learner.json says {self.n_features_in_}"
            )


def _deadline_callback(xgb: Any, deadline: float | None) -> Any:
    """An XGBoost callback that stops training once ``time.monotonic()`` passes ``deadline``."""

    class _Deadline(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
            super().__init__()
            self._clock = clock

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return deadline is not None and self._clock() >= deadline

    return _Deadline()
