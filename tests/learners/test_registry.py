"""Finding learners by name and loading saved learners without knowing their class."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from modelcycle.core import IntegrityError, NotFound, Task, ValidationError
from modelcycle.learners import (
    CatBoostLearner,
    Learner,
    LightGBMLearner,
    LinearLearner,
    XGBoostLearner,
    available_learners,
    get_learner,
)
from tests.learners.helpers import easy_binary

MODULES = [
    "modelcycle.learners",
    "modelcycle.learners._catboost",
    "modelcycle.learners._checks",
    "modelcycle.learners._forest",
    "modelcycle.learners._lightgbm",
    "modelcycle.learners._linear",
    "modelcycle.learners._registry",
    "modelcycle.learners._xgboost",
]


def test_learners_are_found_by_name() -> None:
    assert get_learner("lightgbm") is LightGBMLearner
    assert get_learner("linear") is LinearLearner
    assert get_learner("xgboost") is XGBoostLearner
    assert get_learner("catboost") is CatBoostLearner
    with pytest.raises(NotFound, match=r"learner 'adaboost' is not known; expected one of \["):
        get_learner("adaboost")


@pytest.mark.parametrize("task", [*Task, "binary"])
def test_every_task_has_lightgbm_first(task: Task | str) -> None:
    names = available_learners(task)
    assert names[0] == "lightgbm"
    # XGBoost and CatBoost are installed with the test extra.
    assert set(names) == {
        "lightgbm", "linear", "extra_trees", "random_forest", "xgboost", "catboost"
    }  # fmt: skip


def test_learner_load_picks_the_class_from_the_folder(tmp_path: Path) -> None:
    X, y = easy_binary()
    LinearLearner(task=Task.BINARY).fit(X, y).save(tmp_path)
    assert type(Learner.load(tmp_path)) is LinearLearner
    with pytest.raises(ValidationError, match="holds a 'linear' learner, not 'lightgbm'"):
        LightGBMLearner.load(tmp_path)


def test_folders_that_are_not_saved_learners_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"has no learner\.json"):
        Learner.load(tmp_path)
    (tmp_path / "learner.json").write_text("{not json")
    with pytest.raises(ValidationError, match="is not valid JSON"):
        Learner.load(tmp_path)
    (tmp_path / "learner.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValidationError, match="format 1"):
        Learner.load(tmp_path)
    (tmp_path / "learner.json").write_text(
        json.dumps({"format": 1, "learner": "mystery", "files": {}})
    )
    with pytest.raises(ValidationError, match="lists no model files"):
        Learner.load(tmp_path)


def test_a_file_listed_outside_the_folder_is_refused(tmp_path: Path) -> None:
    X, y = easy_binary()
    LinearLearner(task=Task.BINARY).fit(X, y).save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "learner.json").read_text())
    meta["files"]["../escape.json"] = meta["files"].pop("linear.json")
    (tmp_path / "model" / "learner.json").write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="is missing"):
        Learner.load(tmp_path / "model")


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(ValidationError, match="task 'ranking' is not known"):
        available_learners("ranking")


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("n_jobs", 0, "n_jobs 0; expected a positive int or -1"),
        ("random_state", 1.5, "random_state 1.5; expected an int or None"),
    ],
)
def test_bad_constructor_arguments_are_refused_at_fit(
    argument: str, value: object, expected: str
) -> None:
    X, y = easy_binary()
    learner = LinearLearner(task=Task.BINARY, **{argument: value})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=expected):
        learner.fit(X, y)


def test_a_numpy_seed_is_accepted_and_saved_as_an_int(tmp_path: Path) -> None:
    X, y = easy_binary()
    seed = np.random.default_rng(0).integers(0, 1000)
    LightGBMLearner(task=Task.BINARY, params={"num_iterations": 3}, random_state=seed).fit(
        X, y
    ).save(tmp_path)
    assert json.loads((tmp_path / "learner.json").read_text())["random_state"] == int(seed)
