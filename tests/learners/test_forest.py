"""Forest specifics: the skops allow-list, missing values, the time limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio  # type: ignore[import-untyped, unused-ignore]
from sklearn.ensemble import RandomForestRegressor

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.learners import ExtraTreesLearner, RandomForestLearner, _forest
from modelcycle.testing._learners import learner_data
from tests.learners.helpers import easy_binary, rehash

FORESTS = pytest.mark.parametrize(
    "learner_class", [ExtraTreesLearner, RandomForestLearner], ids=["extra_trees", "random_forest"]
)


class Payload:
    """A class outside the allow-list: loading it would run our code."""

    def __init__(self) -> None:
        self.command = "echo untrusted code"


def _saved_forest(tmp_path: Path) -> Path:
    X, y = easy_binary()
    learner = RandomForestLearner(task=Task.BINARY, params={"n_estimators": 5}, random_state=0)
    learner.fit(X, y).save(tmp_path)
    return tmp_path


def test_a_file_with_a_type_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    folder = _saved_forest(tmp_path)
    sio.dump(Payload(), folder / "model.skops")
    rehash(folder)
    with pytest.raises(IntegrityError, match=r"outside the allow-list: \[.*Payload'\]"):
        RandomForestLearner.load(folder)


def test_a_forest_hiding_a_type_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    folder = _saved_forest(tmp_path)
    model = RandomForestLearner.load(folder).estimator_
    model.hidden = Payload()
    sio.dump(model, folder / "model.skops")
    rehash(folder)
    with pytest.raises(IntegrityError, match="Payload"):
        RandomForestLearner.load(folder)


def test_a_tampered_skops_file_is_refused(tmp_path: Path) -> None:
    folder = _saved_forest(tmp_path)
    path = folder / "model.skops"
    path.write_bytes(path.read_bytes()[:-100] + b"\x00" * 100)
    with pytest.raises(IntegrityError, match="was modified"):
        RandomForestLearner.load(folder)
    rehash(folder)  # the attacker also rewrote learner.json: the archive is still broken
    with pytest.raises(IntegrityError, match="skops"):
        RandomForestLearner.load(folder)


def test_an_allowed_object_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    folder = _saved_forest(tmp_path)
    sio.dump(
        RandomForestRegressor(n_estimators=1).fit([[0.0], [1.0]], [0.0, 1.0]),
        folder / "model.skops",
    )
    rehash(folder)
    with pytest.raises(IntegrityError, match="expected a RandomForestClassifier"):
        RandomForestLearner.load(folder)


@FORESTS
def test_missing_values_are_filled_where_the_trees_cannot_route_them(
    learner_class: type[RandomForestLearner], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_forest, "_allows_nan", lambda estimator: False)
    data = learner_data(Task.BINARY)
    X = data.X_train.copy()
    X[::3, 0] = np.nan
    X[:, 1] = np.nan
    learner = learner_class(task=Task.BINARY, params={"n_estimators": 10}, random_state=0)
    learner.fit(X, data.y_train)
    assert learner.fill_values_ is not None
    assert learner.fill_values_[0] == np.median(X[~np.isnan(X[:, 0]), 0])
    assert learner.fill_values_[1] == 0.0
    rows = data.X_test.copy()
    rows[:, 0] = np.nan
    learner.save(tmp_path)
    loaded = learner_class.load(tmp_path)
    assert np.array_equal(loaded.predict_proba(rows), learner.predict_proba(rows))


@FORESTS
def test_native_missing_values_need_no_filling(learner_class: type[RandomForestLearner]) -> None:
    X, y = easy_binary()
    X[::4, 0] = np.nan
    learner = learner_class(task=Task.BINARY, params={"n_estimators": 5}).fit(X, y)
    assert learner.fill_values_ is None


@FORESTS
def test_a_spent_time_limit_keeps_the_first_chunk_of_trees(
    learner_class: type[RandomForestLearner],
) -> None:
    X, y = easy_binary()
    learner = learner_class(task=Task.BINARY, params={"n_estimators": 500}, class_weight="balanced")
    learner.fit(X, y, time_limit_s=0)
    assert learner.n_iterations_ == 25 == learner.estimator_.n_estimators
    assert not learner.estimator_.warm_start


def test_growing_under_a_time_limit_gives_the_same_forest() -> None:
    X, y = easy_binary()
    at_once = RandomForestLearner(task=Task.BINARY, params={"n_estimators": 60}, random_state=3)
    in_chunks = RandomForestLearner(task=Task.BINARY, params={"n_estimators": 60}, random_state=3)
    at_once.fit(X, y)
    in_chunks.fit(X, y, time_limit_s=3600)
    assert np.array_equal(at_once.predict_proba(X), in_chunks.predict_proba(X))


def test_prediction_runs_on_one_thread_after_a_parallel_fit() -> None:
    X, y = easy_binary()
    learner = ExtraTreesLearner(task=Task.BINARY, params={"n_estimators": 8}, n_jobs=2).fit(X, y)
    assert learner.estimator_.n_jobs == 1


def test_invalid_forest_params_name_the_problem() -> None:
    X, y = easy_binary()
    with pytest.raises(ValidationError, match="could not fit with params"):
        ExtraTreesLearner(task=Task.BINARY, params={"min_samples_leaf": -3}).fit(X, y)
    with pytest.raises(ValidationError, match="has no parameter 'learning_rate'"):
        ExtraTreesLearner(task=Task.BINARY, params={"learning_rate": 0.1}).fit(X, y)
