"""Linear specifics: finite inputs, JSON coefficients, NumPy predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners import LinearLearner
from modelcycle.testing._learners import learner_data
from tests.learners.helpers import easy_binary, rehash


def test_missing_values_are_refused_with_the_columns_named() -> None:
    X, y = easy_binary()
    X[3, 2] = np.nan
    learner = LinearLearner(task=Task.BINARY)
    with pytest.raises(ValidationError, match=r"NaN in columns \[2\]; impute"):
        learner.fit(X, y)
    learner.fit(np.nan_to_num(X), y)
    with pytest.raises(ValidationError, match="NaN"):
        learner.predict(X)
    with pytest.raises(ValidationError, match="X_valid has NaN"):
        learner.fit(np.nan_to_num(X), y, X_valid=X, y_valid=y)


@pytest.mark.parametrize("task", [Task.BINARY, Task.MULTICLASS])
def test_probabilities_match_scikit_learn(task: Task) -> None:
    data = learner_data(task, scale=True)
    learner = LinearLearner(task=task, params={"C": 0.5}).fit(data.X_train, data.y_train)
    reference = LogisticRegression(C=0.5, max_iter=1000).fit(data.X_train, data.y_train)
    np.testing.assert_allclose(
        learner.predict_proba(data.X_test), reference.predict_proba(data.X_test), atol=1e-12
    )
    assert learner.n_iterations_ is not None and learner.n_iterations_ > 0


def test_values_match_scikit_learn() -> None:
    data = learner_data(Task.REGRESSION)
    learner = LinearLearner(task=Task.REGRESSION, params={"alpha": 0.1})
    learner.fit(data.X_train, data.y_train)
    reference = Ridge(alpha=0.1).fit(data.X_train, data.y_train)
    np.testing.assert_allclose(learner.predict(data.X_test), reference.predict(data.X_test))


def test_saved_as_json_coefficients(tmp_path: Path) -> None:
    X, y = easy_binary()
    learner = LinearLearner(task=Task.BINARY).fit(X, y)
    assert learner.save(tmp_path) == ["learner.json", "linear.json"]
    state = json.loads((tmp_path / "linear.json").read_text())
    assert state["coef"] == learner.coef_.tolist() and state["classes"] == [0, 1]
    assert np.array(state["coef"]).shape == (1, 4)


def test_coefficients_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    X, y = easy_binary()
    LinearLearner(task=Task.BINARY).fit(X, y).save(tmp_path)
    state = json.loads((tmp_path / "linear.json").read_text())
    state["coef"] = [state["coef"][0][:3]]
    (tmp_path / "linear.json").write_text(json.dumps(state))
    rehash(tmp_path)
    with pytest.raises(IntegrityError, match=r"coefficients of shape \(1, 3\); expected"):
        LinearLearner.load(tmp_path)


def test_a_class_missing_from_training_gets_probability_zero() -> None:
    X, y = easy_binary()
    codes = np.where(y == 1, 2, 0)
    learner = LinearLearner(task=Task.MULTICLASS).fit(X, codes)
    proba = learner.predict_proba(X)
    assert proba.shape == (600, 3) and (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(learner.predict(X))) == {0, 2}


def test_params_of_the_other_task_are_refused() -> None:
    X, y = easy_binary()
    with pytest.raises(ValidationError, match=r"no parameter 'alpha' for the binary task"):
        LinearLearner(task=Task.BINARY, params={"alpha": 1.0}).fit(X, y)
    with pytest.raises(ValidationError, match=r"no parameter 'C' for the regression task"):
        LinearLearner(task=Task.REGRESSION, params={"C": 1.0}).fit(X, y * 1.0)


def test_a_failed_refit_leaves_no_stale_model() -> None:
    X, y = easy_binary()
    learner = LinearLearner(task=Task.BINARY).fit(X, y)
    X[0, 0] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        learner.fit(X, y)
    with pytest.raises(ValidationError, match="not fitted"):
        learner.predict(np.nan_to_num(X))
