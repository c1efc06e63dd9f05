"""Random forests and extremely randomised trees from scikit-learn.

Saved with skops and loaded through an allow-list of types (see ``_skops``).
Missing values (NaN) go to the trees, which route them natively (scikit-learn
1.4+ for random forests, 1.6+ for extra trees); where the installed version
cannot, they are replaced by the training medians, which are saved with the model.

Small batches are predicted by a :class:`~modelcycle.learners._packed.PackedForest`
built after fitting and after loading (never saved): all trees walked at once,
with bit-identical results, some 50 times faster than scikit-learn for one row.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from modelcycle.core import Task, ValidationError
from modelcycle.learners import _skops
from modelcycle.learners._base import Learner, ValidationSet
from modelcycle.learners._packed import PackedForest, pack_forest

if TYPE_CHECKING:  # search spaces are drawn while training; a server loads none
    import optuna

_MODEL_FILE = "model.skops"
# Trees added between two looks at the clock when a time limit is set.
_CHUNK = 25
# Batches up to this many rows are predicted by the packed forest; larger ones by
# scikit-learn, whose compiled tree walk wins once its per-tree overhead is spread
# over enough rows (benchmarks/forest_predict.py measures the crossing).
_PACKED_MAX_ROWS = 256


class _ForestLearner(Learner):
    """A bagged ensemble of trees from scikit-learn (the shared part of the forests).

    ``params``: ``n_estimators``, ``max_features``, ``min_samples_leaf``,
    ``min_samples_split``, ``max_depth``, ``max_leaf_nodes``, ``bootstrap``,
    ``max_samples`` and ``criterion``, as in scikit-learn. Categorical features
    arrive as integer codes (``encoding = "native"``) and are split on as ordered
    numbers; :meth:`contributions` is not available. With ``time_limit_s`` trees
    are added in chunks of 25 until the limit or ``n_estimators`` is reached.
    Prediction runs on one thread: the forest sums its trees in a fixed order, so
    a loaded model predicts bit for bit as the fitted one. Batches of up to 256
    rows are predicted by ``packed_``, which gives the same bits faster.

    Attributes
    ----------
    estimator_ : scikit-learn forest
        The fitted estimator.
    fill_values_ : ndarray or None
        Training medians replacing NaN, only where the trees cannot route NaN.
    packed_ : PackedForest or None
        The trees in flat arrays for fast prediction of small batches, rebuilt after
        loading; ``None`` if the forest could not be packed exactly.
    """

    encoding = "native"
    needs_scaling = False
    handles_missing = True
    param_names = frozenset(
        {
            "n_estimators",
            "max_features",
            "min_samples_leaf",
            "min_samples_split",
            "max_depth",
            "max_leaf_nodes",
            "bootstrap",
            "max_samples",
            "criterion",
        }
    )
    _classifier: ClassVar[type[Any]]
    _regressor: ClassVar[type[Any]]

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return 200 fully grown trees, ``sqrt`` features per split for classification."""
        features = 1.0 if task is Task.REGRESSION else "sqrt"
        return {"n_estimators": 200, "max_features": features, "min_samples_leaf": 1}

    @classmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw the number of trees, features per split and the leaf size."""
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 500, log=True),
            "max_features": trial.suggest_float("max_features", 0.1, 1.0),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
        }

    @classmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return the defaults and a model with more features per split and larger leaves.

        Large data gets fewer trees and larger leaves, to bound the model's size.
        """
        trees = 300 if n_rows <= 100_000 else 100
        leaf = 1 if n_rows < 10_000 else 5
        return [
            {"n_estimators": trees, "min_samples_leaf": leaf},
            {"n_estimators": trees, "max_features": 0.5, "min_samples_leaf": 2 * leaf},
        ]

    def _estimator_class(self) -> type[Any]:
        return self._regressor if Task(self.task) is Task.REGRESSION else self._classifier

    def _build(self) -> Any:
        seed = None if self.random_state is None else int(self.random_state)
        options = dict(self.params_, random_state=seed, n_jobs=self.n_jobs)
        if Task(self.task) is not Task.REGRESSION:
            options["class_weight"] = self.class_weight
        return self._estimator_class()(**options)

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        model = self._build()
        self.fill_values_ = None if _allows_nan(model) else _medians(X)
        X = self._filled(X)
        try:
            if deadline is None:
                model.fit(X, y)
            else:
                _grow(model, X, y, deadline)
        except ValueError as exc:
            raise ValidationError(
                f"learner {self.name!r} could not fit with params {self.params_}: {exc}"
            ) from None
        # Parallel prediction adds tree outputs in the order threads finish, which
        # changes the last bits; one thread keeps predictions exactly reproducible.
        model.set_params(n_jobs=1)
        self.estimator_ = model
        self.n_iterations_ = len(model.estimators_)
        self.packed_ = self._pack()

    def _pack(self) -> PackedForest | None:
        return pack_forest(self.estimator_, allow_nan=self.fill_values_ is None)

    def _filled(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.fill_values_ is None:
            return X
        return np.where(np.isnan(X), self.fill_values_, X)

    def _packed_mean(self, X: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """The packed forest's output for a small batch, or ``None`` to ask scikit-learn."""
        if self.packed_ is None or X.shape[0] > _PACKED_MAX_ROWS:
            return None
        with np.errstate(over="ignore"):  # beyond float32: inf, which goes to scikit-learn
            rows = X.astype(np.float32)
        return self.packed_.predict(rows) if self.packed_.accepts(rows) else None

    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = self._filled(X)
        mean = self._packed_mean(X)
        if mean is not None:
            return mean[:, 0]
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        X = self._filled(X)
        seen = self._packed_mean(X)
        if seen is None:
            seen = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        proba = np.zeros((X.shape[0], self.n_classes_), dtype=np.float64)
        proba[:, np.asarray(self.estimator_.classes_, dtype=np.int64)] = seen
        return proba

    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        _skops.dump_skops(self.estimator_, folder / _MODEL_FILE)
        fill = None if self.fill_values_ is None else self.fill_values_.tolist()
        return [_MODEL_FILE], {"fill_values": fill}

    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        self.estimator_ = _skops.load_skops(folder / _MODEL_FILE, self._estimator_class())
        fill = meta.get("fill_values")
        self.fill_values_ = None if fill is None else np.array(fill, dtype=np.float64)
        self.packed_ = self._pack()


class ExtraTreesLearner(_ForestLearner):
    """Extremely randomised trees (``ExtraTreesClassifier`` / ``ExtraTreesRegressor``).

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> X = np.array([[0.0], [1.0], [np.nan], [3.0]] * 5)
    >>> y = np.array([0, 0, 1, 1] * 5)
    >>> learner = ExtraTreesLearner(task=Task.BINARY, params={"n_estimators": 10}, random_state=0)
    >>> learner.fit(X, y).predict(np.array([[0.0], [np.nan]])).tolist()
    [0, 1]
    """

    name = "extra_trees"
    _classifier = ExtraTreesClassifier
    _regressor = ExtraTreesRegressor


class RandomForestLearner(_ForestLearner):
    """Random forests (``RandomForestClassifier`` / ``RandomForestRegressor``).

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> X = np.arange(20.0).reshape(-1, 1)
    >>> learner = RandomForestLearner(task=Task.REGRESSION, params={"n_estimators": 10})
    >>> learner.fit(X, X[:, 0] * 2).n_iterations_
    10
    """

    name = "random_forest"
    _classifier = RandomForestClassifier
    _regressor = RandomForestRegressor


def _allows_nan(estimator: Any) -> bool:
    """Whether the installed scikit-learn lets this estimator route NaN itself."""
    if hasattr(estimator, "__sklearn_tags__"):
        return bool(estimator.__sklearn_tags__().input_tags.allow_nan)
    return bool(estimator._get_tags().get("allow_nan", False))  # scikit-learn < 1.6


def _medians(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column medians ignoring NaN; 0 for a column with no values."""
    present = ~np.isnan(X).all(axis=0)
    medians = np.zeros(X.shape[1], dtype=np.float64)
    if present.any():
        medians[present] = np.nanmedian(X[:, present], axis=0)
    return medians


def _grow(model: Any, X: NDArray[np.float64], y: NDArray[Any], deadline: float) -> None:
    """Fit ``model`` in chunks of trees until it is complete or ``deadline`` has passed.

    Warm starts draw each tree's seed from the same stream as one full fit, so a
    forest grown to completion equals the one fitted at once.
    """
    total = int(model.n_estimators)
    model.set_params(warm_start=True)
    grown = 0
    with warnings.catch_warnings():
        # The data does not change between chunks, so "balanced" weights stay exact.
        warnings.filterwarnings("ignore", message="class_weight presets", category=UserWarning)
        while grown < total:
            grown = min(total, grown + _CHUNK)
            model.set_params(n_estimators=grown)
            model.fit(X, y)
            if time.monotonic() >= deadline:
                break
    model.set_params(warm_start=False, n_estimators=len(model.estimators_))
