"""LightGBM specifics: early stopping, the time limit, categoricals, contributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners import LightGBMLearner
from modelcycle.testing._learners import learner_data
from tests.learners.helpers import easy_binary, rehash


def test_early_stopping_stops_before_the_most_rounds_on_easy_data() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(
        task=Task.BINARY,
        params={"num_iterations": 2000, "early_stopping_round": 10, "learning_rate": 0.3},
        random_state=0,
    ).fit(X[:400], y[:400], X_valid=X[400:], y_valid=y[400:])
    assert learner.n_iterations_ is not None and learner.best_iteration_ is not None
    assert learner.n_iterations_ < 2000
    assert learner.n_iterations_ == learner.best_iteration_ + 10
    losses = learner.evals_result_["valid"]["binary_logloss"]
    assert len(losses) == learner.n_iterations_
    assert int(np.argmin(losses)) + 1 == learner.best_iteration_
    assert learner.booster_.current_iteration() == learner.best_iteration_


def test_without_a_validation_set_every_round_is_kept() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(task=Task.BINARY, params={"num_iterations": 30}).fit(X, y)
    assert learner.n_iterations_ == learner.best_iteration_ == 30
    assert learner.evals_result_ == {}


def test_early_stopping_round_zero_disables_it() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(
        task=Task.BINARY, params={"num_iterations": 80, "early_stopping_round": 0}
    ).fit(X[:400], y[:400], X_valid=X[400:], y_valid=y[400:])
    assert learner.n_iterations_ == learner.best_iteration_ == 80


@pytest.mark.parametrize("with_validation", [False, True])
def test_a_spent_time_limit_stops_after_the_first_round(with_validation: bool) -> None:
    X, y = easy_binary()
    valid = {"X_valid": X[400:], "y_valid": y[400:]} if with_validation else {}
    learner = LightGBMLearner(task=Task.BINARY, params={"num_iterations": 1000})
    learner.fit(X[:400], y[:400], time_limit_s=0, **valid)
    assert learner.n_iterations_ == learner.best_iteration_ == 1
    assert learner.predict_proba(X).shape == (600, 2)


def test_the_time_limit_ends_training_that_would_run_for_hours() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(task=Task.BINARY, params={"num_iterations": 10_000_000})
    learner.fit(X, y, time_limit_s=0.2)
    assert learner.n_iterations_ is not None and 1 <= learner.n_iterations_ < 10_000_000


def test_the_time_limit_keeps_the_best_round_seen() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(
        task=Task.BINARY,
        params={"num_iterations": 10_000_000, "early_stopping_round": 0, "learning_rate": 0.5},
    ).fit(X[:400], y[:400], X_valid=X[400:], y_valid=y[400:], time_limit_s=0.5)
    losses = learner.evals_result_["valid"]["binary_logloss"]
    assert int(np.argmin(losses)) + 1 == learner.best_iteration_


@pytest.mark.parametrize("task", list(Task))
def test_contributions_sum_to_the_raw_score(task: Task) -> None:
    data = learner_data(task)
    learner = LightGBMLearner(task=task, params={"num_iterations": 40}, random_state=0)
    learner.fit(data.X_train, data.y_train)
    contributions = learner.contributions(data.X_test)
    raw = learner.booster_.predict(data.X_test, raw_score=True)
    if task is Task.MULTICLASS:
        assert contributions.shape == (len(data.X_test), 3, data.X_test.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=-1), raw, rtol=1e-10, atol=1e-10)


def test_native_categorical_features_split_on_sets_of_codes() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 10, size=1000).astype(np.float64)
    codes[::50] = np.nan
    X = np.column_stack([codes, rng.normal(size=1000)])
    y = np.isin(codes, [1, 4, 7]).astype(np.int64)
    learner = LightGBMLearner(
        task=Task.BINARY, params={"num_iterations": 20, "num_leaves": 4}, random_state=0
    ).fit(X, y, categorical_features=[0])
    assert learner.categorical_features_ == [0]
    trees = learner.booster_.dump_model()["tree_info"]
    assert trees[0]["tree_structure"]["decision_type"] == "=="
    assert np.mean(learner.predict(X) == y) == 1.0


def test_categorical_indices_are_checked() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(task=Task.BINARY)
    with pytest.raises(ValidationError, match=r"categorical feature index 4; expected 0\.\.3"):
        learner.fit(X, y, categorical_features=[4])
    with pytest.raises(ValidationError, match="expected column indices"):
        learner.fit(X, y, categorical_features=["a"])  # type: ignore[list-item]


def test_params_set_by_constructor_arguments_are_refused() -> None:
    X, y = easy_binary()
    with pytest.raises(ValidationError, match=r"'objective' from its 'task' argument"):
        LightGBMLearner(task=Task.BINARY, params={"objective": "huber"}).fit(X, y)
    with pytest.raises(ValidationError, match=r"'seed' from its 'random_state' argument"):
        LightGBMLearner(task=Task.BINARY, params={"seed": 1}).fit(X, y)


def test_aliases_of_the_round_count_are_understood() -> None:
    X, y = easy_binary()
    learner = LightGBMLearner(task=Task.BINARY, params={"n_estimators": 7}).fit(X, y)
    assert learner.n_iterations_ == 7 and learner.params_["num_iterations"] == 7
    assert "n_estimators" not in learner.params_


def test_different_seeds_give_different_bagged_models() -> None:
    data = learner_data(Task.BINARY)
    params = {"num_iterations": 30, "bagging_fraction": 0.5, "bagging_freq": 1}
    first, second = (
        LightGBMLearner(task=Task.BINARY, params=params, random_state=seed).fit(
            data.X_train, data.y_train
        )
        for seed in (1, 2)
    )
    assert not np.array_equal(first.predict_proba(data.X_test), second.predict_proba(data.X_test))


def test_a_class_missing_from_training_keeps_its_column() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, 3, np.where(X[:, 1] > 0, 1, 0))
    learner = LightGBMLearner(task=Task.MULTICLASS, params={"num_iterations": 20}).fit(X, y)
    proba = learner.predict_proba(X)
    assert proba.shape == (300, 4) and proba[:, 2].max() < 0.05
    assert set(np.unique(learner.predict(X))) <= {0, 1, 3}


def test_class_weight_is_for_classification_only() -> None:
    X, y = easy_binary()
    with pytest.raises(ValidationError, match="classification only"):
        LightGBMLearner(task=Task.REGRESSION, class_weight="balanced").fit(X, y * 1.0)
    with pytest.raises(ValidationError, match="'balanced' or None"):
        LightGBMLearner(task=Task.BINARY, class_weight="heavy").fit(X, y)  # type: ignore[arg-type]


def test_model_text_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    X, y = easy_binary()
    LightGBMLearner(task=Task.BINARY, params={"num_iterations": 5}).fit(X, y).save(tmp_path)
    assert (tmp_path / "model.txt").read_text().startswith("tree\n")
    (tmp_path / "model.txt").write_text("not a model")
    rehash(tmp_path)
    with pytest.raises(IntegrityError, match="is not a LightGBM model"):
        LightGBMLearner.load(tmp_path)


def test_the_deadline_callback_stops_training_on_its_clock() -> None:
    """A fake clock that advances one second per round: a 5 s deadline stops after 5."""
    import lightgbm as lgb

    from modelcycle.learners._lightgbm import _Progress

    X, y = easy_binary()
    ticks = iter(range(1, 1_000))
    progress = _Progress(deadline=5.0, clock=lambda: float(next(ticks)))
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, label=y),
        num_boost_round=100,
        callbacks=[progress],
    )
    assert progress.iterations == 5 and booster.current_iteration() == 5


def test_categorical_regularisation_is_drawn_and_accepted() -> None:
    import optuna

    trial = optuna.trial.FixedTrial(
        {"cat_smooth": 20.0, "cat_l2": 5.0, "min_data_per_group": 10, "max_cat_threshold": 16}
    )
    params = LightGBMLearner.categorical_space(trial)
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 50, 400), rng.normal(size=400)]).astype(float)
    y = (X[:, 0] % 3 == 0).astype(int)
    learner = LightGBMLearner(task=Task.BINARY, params={**params, "num_iterations": 20})
    learner.fit(X, y, categorical_features=[0])
    assert learner.params_["max_cat_threshold"] == 16
