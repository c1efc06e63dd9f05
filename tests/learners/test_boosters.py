"""XGBoost and CatBoost: categorical columns, early stopping, safe files, optional libraries.

The learner contract (``test_contract.py``) runs both on every task; these are what the
two families add: XGBoost splits categorical columns by category and saves JSON,
CatBoost gives them to its ordered target statistics and saves ``.cbm``, both keep
their best round, stop at the time limit and load only their own format (issue 15).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from modelcycle.automl import AutoML
from modelcycle.core import IntegrityError, NotFound, Task, ValidationError
from modelcycle.learners import (
    CatBoostLearner,
    Learner,
    LightGBMLearner,
    LinearLearner,
    XGBoostLearner,
)
from tests.learners.helpers import rehash

BOOSTERS = pytest.mark.parametrize(
    ("learner_class", "rounds"),
    [(XGBoostLearner, "num_boost_round"), (CatBoostLearner, "iterations")],
    ids=["xgboost", "catboost"],
)


def level_table(n: int = 3000, levels: int = 200, seed: int = 0) -> tuple[NDArray[Any], ...]:
    """One numeric feature and one category code column whose level carries the signal."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, levels, n)
    effect = rng.normal(scale=2.0, size=levels)
    x = rng.normal(size=n)
    X = np.column_stack([x, codes.astype(np.float64)])
    y = effect[codes] + x + rng.normal(scale=0.3, size=n)
    return X[:2000], y[:2000], X[2000:], y[2000:]


def rmse(a: NDArray[Any], b: NDArray[Any]) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


@BOOSTERS
def test_categorical_codes_are_split_on_as_categories(
    learner_class: type[Learner], rounds: str
) -> None:
    X, y, X_test, y_test = level_table()
    params = {rounds: 300}
    native = learner_class(task=Task.REGRESSION, params=params, random_state=0)
    native.fit(X, y, categorical_features=[1])
    numeric = learner_class(task=Task.REGRESSION, params=params, random_state=0).fit(X, y)
    # Codes in no order: as numbers they need many splits, as categories few.
    assert rmse(native.predict(X_test), y_test) < 0.8 * rmse(numeric.predict(X_test), y_test)


def test_xgboost_saves_json_with_the_categorical_column_marked(tmp_path: Path) -> None:
    X, y, X_test, _ = level_table()
    learner = XGBoostLearner(task=Task.REGRESSION, params={"num_boost_round": 30})
    learner.fit(X, y, categorical_features=[1])
    assert learner.save(tmp_path) == ["learner.json", "model.json"]
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["learner"]["feature_types"] == ["q", "c"]
    loaded = Learner.load(tmp_path)
    assert np.array_equal(loaded.predict(X_test), learner.predict(X_test))
    X_test[::3, 1] = np.nan  # a missing category
    assert np.array_equal(loaded.predict(X_test), learner.predict(X_test))
    assert np.isfinite(loaded.predict(X_test)).all()


def test_catboost_saves_cbm_with_the_categorical_column(tmp_path: Path) -> None:
    X, y, X_test, _ = level_table()
    learner = CatBoostLearner(task=Task.REGRESSION, params={"iterations": 30})
    learner.fit(X, y, categorical_features=[1])
    assert learner.save(tmp_path) == ["learner.json", "model.cbm"]
    assert (tmp_path / "model.cbm").read_bytes()[:4] == b"CBM1"  # CatBoost's own format
    loaded = Learner.load(tmp_path)
    assert isinstance(loaded, CatBoostLearner)
    assert list(loaded.model_.get_cat_feature_indices()) == [1]
    assert np.array_equal(loaded.predict(X_test), learner.predict(X_test))
    X_test[::3, 1] = np.nan  # a missing category
    assert np.array_equal(loaded.predict(X_test), learner.predict(X_test))
    assert np.isfinite(loaded.predict(X_test)).all()


@BOOSTERS
def test_early_stopping_keeps_the_best_round(
    tmp_path: Path, learner_class: type[Learner], rounds: str
) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 5)), rng.normal(size=400)  # noise: the best round is early
    learner = learner_class(
        task=Task.REGRESSION,
        params={rounds: 400, "early_stopping_rounds": 10, "learning_rate": 0.3},
        random_state=0,
    )
    learner.fit(X[:300], y[:300], X_valid=X[300:], y_valid=y[300:])
    assert learner.best_iteration_ is not None and learner.best_iteration_ < 100
    learner.save(tmp_path)
    loaded = Learner.load(tmp_path)
    assert loaded.best_iteration_ == learner.best_iteration_
    assert np.array_equal(loaded.predict(X), learner.predict(X))
    if isinstance(loaded, XGBoostLearner):  # the file holds the kept rounds only
        assert loaded.booster_.num_boosted_rounds() == learner.best_iteration_


@BOOSTERS
def test_a_passed_time_limit_stops_after_one_round(
    learner_class: type[Learner], rounds: str
) -> None:
    X, y, _, _ = level_table()
    learner = learner_class(task=Task.REGRESSION, params={rounds: 500})
    assert learner.fit(X, y, time_limit_s=0).n_iterations_ == 1


@BOOSTERS
def test_refit_params_fix_the_rounds_without_early_stopping(
    learner_class: type[Learner], rounds: str
) -> None:
    params = learner_class.refit_params({"learning_rate": 0.1}, 42)
    assert params == {"learning_rate": 0.1, rounds: 42, "early_stopping_rounds": 0}
    assert LightGBMLearner.refit_params({}, 42) == {"num_iterations": 42, "early_stopping_round": 0}
    assert LinearLearner.refit_params({"C": 1.0}, 42) == {"C": 1.0}


@BOOSTERS
def test_a_model_file_of_another_format_is_refused(
    tmp_path: Path, learner_class: type[Learner], rounds: str
) -> None:
    """Even with a matching hash (an attacker rewrote both), a pickle is never loaded."""
    X, y, _, _ = level_table()
    files = learner_class(task=Task.REGRESSION, params={rounds: 5}).fit(X, y).save(tmp_path)
    model_file = tmp_path / next(name for name in files if name != "learner.json")
    model_file.write_bytes(pickle.dumps({"not": "a model"}))
    rehash(tmp_path)
    with pytest.raises(IntegrityError, match=r"is not an? (XGBoost JSON|CatBoost) model"):
        Learner.load(tmp_path)


@BOOSTERS
def test_parameters_set_by_the_learner_are_refused(
    learner_class: type[Learner], rounds: str
) -> None:
    X, y, _, _ = level_table()
    for reserved in ("objective", "nthread", "thread_count", "seed", "random_seed"):
        with pytest.raises(ValidationError, match=f"has no parameter {reserved!r}"):
            learner_class(task=Task.REGRESSION, params={reserved: 1}).fit(X, y)


@BOOSTERS
def test_a_missing_library_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, learner_class: type[Learner], rounds: str
) -> None:
    X, y, _, _ = level_table()
    library = learner_class.library
    assert library is not None
    monkeypatch.setitem(sys.modules, library, None)  # import fails as if not installed
    assert not learner_class.installed()
    install = rf"pip install 'modelcycle\[{learner_class.extra}\]'"
    with pytest.raises(NotFound, match=install):
        learner_class(task=Task.REGRESSION).fit(X, y)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    with pytest.raises(ValidationError, match=install):
        AutoML(budget=5, learners=[learner_class.name]).fit(frame, "y")


def test_xgboost_is_searched_by_default_only_on_many_valued_columns() -> None:
    """What the benchmark measured (issue 15); CatBoost only when named."""
    automl = AutoML(budget=4)
    automl.task_ = Task.REGRESSION
    automl.many_valued_ = ["shop"]
    assert automl._learner_names() == [
        "lightgbm", "xgboost", "linear", "extra_trees", "random_forest"
    ]  # fmt: skip
    automl.many_valued_ = []
    assert automl._learner_names() == ["lightgbm", "linear", "extra_trees", "random_forest"]
    automl.learners = ["catboost", "lightgbm"]
    assert automl._learner_names() == ["catboost", "lightgbm"]
