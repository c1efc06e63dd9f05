"""class_weight="balanced" raises the recall of rare classes, for every learner."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from sklearn.utils.class_weight import compute_class_weight

from modelcycle.core import Task
from modelcycle.learners import BUILTIN_LEARNERS, Learner
from modelcycle.learners._checks import balanced_weights

# Leaves of 10 rows let the forests' weighted leaf votes move; fully grown leaves are pure.
PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {"num_iterations": 60},
    "xgboost": {"num_boost_round": 60, "max_depth": 3},
    "catboost": {"iterations": 60},
    "extra_trees": {"n_estimators": 30, "min_samples_leaf": 10},
    "random_forest": {"n_estimators": 30, "min_samples_leaf": 10},
}
LEARNERS = pytest.mark.parametrize(
    "learner_class", BUILTIN_LEARNERS, ids=[learner.name for learner in BUILTIN_LEARNERS]
)


def _rare_class_recall(
    learner_class: type[Learner], task: Task, class_weight: Any, n_classes: int
) -> float:
    weights = [0.95] if n_classes == 2 else [0.8, 0.15]
    X, y = make_classification(
        n_samples=2000,
        n_features=8,
        n_informative=4,
        n_classes=n_classes,
        weights=weights,
        flip_y=0,
        class_sep=0.6,
        random_state=0,
    )
    learner = learner_class(
        task=task,
        params=PARAMS.get(learner_class.name, {}),
        class_weight=class_weight,
        random_state=0,
    ).fit(X[:1500], y[:1500])
    rare = y[1500:] == n_classes - 1
    predicted: NDArray[Any] = learner.predict(X[1500:])
    return float(np.mean(predicted[rare] == n_classes - 1))


@LEARNERS
def test_balanced_weights_raise_minority_recall_binary(learner_class: type[Learner]) -> None:
    plain = _rare_class_recall(learner_class, Task.BINARY, None, 2)
    balanced = _rare_class_recall(learner_class, Task.BINARY, "balanced", 2)
    assert balanced > plain + 0.15


@LEARNERS
def test_balanced_weights_raise_minority_recall_multiclass(learner_class: type[Learner]) -> None:
    plain = _rare_class_recall(learner_class, Task.MULTICLASS, None, 3)
    balanced = _rare_class_recall(learner_class, Task.MULTICLASS, "balanced", 3)
    assert balanced > plain + 0.15


def test_balanced_weights_match_scikit_learn() -> None:
    codes = np.array([0, 0, 0, 0, 1, 2, 2, 4])
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2, 4]), y=codes)
    weights = balanced_weights(codes, 5)
    np.testing.assert_allclose(weights[[0, 1, 2, 4]], expected, rtol=1e-15)
    assert weights[3] == 0.0
