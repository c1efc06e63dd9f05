"""Linear models from scikit-learn: logistic regression and ridge regression.

Fitted by scikit-learn, then kept (and saved) as plain coefficient arrays in JSON;
predictions are computed with NumPy from those arrays, so a loaded learner predicts
bit for bit as the fitted one and no estimator object is ever deserialised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression, Ridge

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners._base import Learner, ValidationSet
from modelcycle.learners._files import write_json

if TYPE_CHECKING:  # search spaces are drawn while training; a server loads none
    import optuna

_MODEL_FILE = "linear.json"
_PARAMS = {
    Task.BINARY: frozenset({"C", "max_iter"}),
    Task.MULTICLASS: frozenset({"C", "max_iter"}),
    Task.REGRESSION: frozenset({"alpha"}),
}


class LinearLearner(Learner):
    """L2-regularised logistic regression (classification) or ridge regression.

    Needs finite, preferably standardised features: ``fit`` and ``predict`` raise
    :class:`~modelcycle.core.ValidationError` on NaN (impute first, as
    :mod:`modelcycle.features` does). ``params``: ``C`` (inverse regularisation,
    classification) or ``alpha`` (regularisation, regression), and ``max_iter``.
    The solvers are deterministic; ``random_state`` and ``time_limit_s`` have no
    effect, and neither has a validation set.

    Attributes
    ----------
    coef_ : ndarray of shape (m, f)
        One row for regression and binary, one per class seen otherwise.
    intercept_ : ndarray of shape (m,)
    classes_ : ndarray of int64
        Class codes seen in training (classification).

    Examples
    --------
    >>> import numpy as np
    >>> from modelcycle.core import Task
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> learner = LinearLearner(task=Task.REGRESSION, params={"alpha": 1e-9}).fit(X, 2 * X[:, 0])
    >>> learner.predict(np.array([[4.0]])).round(6).tolist()
    [8.0]
    """

    name = "linear"
    encoding = "onehot"
    needs_scaling = True
    handles_missing = False
    param_names = frozenset({"C", "alpha", "max_iter"})

    @classmethod
    def default_params(cls, task: Task) -> dict[str, Any]:
        """Return ``C=1`` (classification) or ``alpha=1`` (regression)."""
        if task is Task.REGRESSION:
            return {"alpha": 1.0}
        return {"C": 1.0, "max_iter": 1000}

    @classmethod
    def search_space(cls, trial: optuna.trial.BaseTrial, task: Task) -> dict[str, Any]:
        """Draw the regularisation strength on a log scale.

        Examples
        --------
        >>> import optuna
        >>> LinearLearner.search_space(optuna.trial.FixedTrial({"C": 0.5}), Task.BINARY)
        {'C': 0.5}
        """
        if task is Task.REGRESSION:
            return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}
        return {"C": trial.suggest_float("C", 1e-4, 1e2, log=True)}

    @classmethod
    def portfolio(cls, task: Task, n_rows: int, n_features: int) -> list[dict[str, Any]]:
        """Return the default strength and a stronger one for few rows per feature.

        Examples
        --------
        >>> LinearLearner.portfolio(Task.REGRESSION, 1000, 10)
        [{'alpha': 1.0}, {'alpha': 10.0}]
        """
        strong = 10.0 if n_rows < 20 * max(n_features, 1) else 1.0
        if task is Task.REGRESSION:
            return [{"alpha": 1.0}, {"alpha": 10.0 * strong}]
        return [{"C": 1.0}, {"C": 0.1 / strong}]

    def _fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        valid: ValidationSet | None,
        deadline: float | None,
    ) -> None:
        task = Task(self.task)
        unknown = sorted(set(self.params_) - _PARAMS[task])
        if unknown:
            raise ValidationError(
                f"learner 'linear' has no parameter {unknown[0]!r} for the {task.value} task; "
                f"expected one of {sorted(_PARAMS[task])}"
            )
        if task is Task.REGRESSION:
            model = Ridge(alpha=float(self.params_["alpha"]))
            model.fit(X, y)
            self.coef_ = np.asarray(model.coef_, dtype=np.float64).reshape(1, -1)
            self.intercept_ = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
            self.classes_ = np.zeros(0, dtype=np.int64)
            return
        model = LogisticRegression(
            C=float(self.params_["C"]),
            max_iter=int(self.params_["max_iter"]),
            class_weight=self.class_weight,
        )
        model.fit(X, y)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64)
        self.classes_ = np.asarray(model.classes_, dtype=np.int64)
        self.n_iterations_ = int(np.max(model.n_iter_))

    # -- predicting ------------------------------------------------------------------

    def _scores(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        scores: NDArray[np.float64] = X @ self.coef_.T + self.intercept_
        return scores

    def _predict_values(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._scores(X)[:, 0]

    def _predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        scores = self._scores(X)
        if scores.shape[1] == 1:
            positive = _sigmoid(scores[:, 0])
            seen = np.column_stack([1.0 - positive, positive])
        else:
            seen = _softmax(scores)
        proba = np.zeros((X.shape[0], self.n_classes_), dtype=np.float64)
        proba[:, self.classes_] = seen
        return proba

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return ``coef * x`` per feature and the intercept as the bias column.

        The raw prediction is the value (regression), the log-odds of class 1
        (binary) or each class's softmax score (multiclass; a class absent from
        training, or the first of two seen classes, scores 0 throughout).
        """
        matrix = self._check_rows(X)
        parts = matrix[:, None, :] * self.coef_[None, :, :]
        bias = np.broadcast_to(self.intercept_, (matrix.shape[0], self.intercept_.size))
        rows = np.concatenate([parts, bias[:, :, None]], axis=2)
        if Task(self.task) is not Task.MULTICLASS:
            return np.ascontiguousarray(rows[:, 0, :])
        out = np.zeros((matrix.shape[0], self.n_classes_, self.n_features_in_ + 1))
        out[:, self.classes_[-rows.shape[1] :], :] = rows
        return out

    # -- persistence -----------------------------------------------------------------

    def _save_state(self, folder: Path) -> tuple[list[str], dict[str, Any]]:
        state = {
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
            "classes": self.classes_.tolist(),
        }
        write_json(folder / _MODEL_FILE, state)
        return [_MODEL_FILE], {}

    def _load_state(self, folder: Path, meta: dict[str, Any]) -> None:
        state = json.loads((folder / _MODEL_FILE).read_text())
        try:
            self.coef_ = np.array(state["coef"], dtype=np.float64)
            self.intercept_ = np.array(state["intercept"], dtype=np.float64)
            self.classes_ = np.array(state["classes"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{str(folder / _MODEL_FILE)!r} is malformed: {exc}") from None
        rows = self.coef_.shape[0] if self.coef_.ndim == 2 else -1
        if self.coef_.shape != (rows, self.n_features_in_) or self.intercept_.shape != (rows,):
            raise IntegrityError(
                f"{str(folder / _MODEL_FILE)!r} has coefficients of shape {self.coef_.shape}; "
                f"expected (classes, {self.n_features_in_})"
            )


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Logistic function, stable for large ``|z|``."""
    result: NDArray[np.float64] = np.exp(-np.logaddexp(0.0, -z))
    return result


def _softmax(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result
