"""The packed forest predicts bit for bit as scikit-learn's forests."""

from __future__ import annotations

import doctest
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from modelcycle.core import Task
from modelcycle.learners import ExtraTreesLearner, RandomForestLearner, _forest, _packed
from modelcycle.learners._packed import PackedForest, pack_forest

FORESTS = pytest.mark.parametrize(
    "learner_class", [ExtraTreesLearner, RandomForestLearner], ids=["extra_trees", "random_forest"]
)
TASKS = pytest.mark.parametrize("task", list(Task), ids=[task.value for task in Task])
N_FEATURES = 6


def _data(task: Task, n: int = 800, seed: int = 0) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Seeded rows with NaN in two columns; classes (unbalanced) or values from them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)) * [1.0, 10.0, 0.01, 1e4, 1.0, 3.0]
    X[:, 4] = rng.integers(0, 5, size=n)  # a categorical code, split as a number
    score = X[:, 0] + X[:, 1] / 10 + np.sin(X[:, 4]) + rng.normal(scale=0.5, size=n)
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.3, 5] = np.nan
    if task is Task.REGRESSION:
        return X, score
    cuts = [0.8] if task is Task.BINARY else [-0.5, 0.6, 1.5]
    return X, np.searchsorted(cuts, score).astype(np.int64)


def _fitted(
    learner_class: type[RandomForestLearner], task: Task, **options: Any
) -> RandomForestLearner:
    X, y = _data(task)
    weight = None if task is Task.REGRESSION else "balanced"
    params = {"n_estimators": 40, **options}
    learner = learner_class(task=task, params=params, class_weight=weight, random_state=1)
    return learner.fit(X, y)


def _sklearn_output(learner: RandomForestLearner, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """What the wrapped scikit-learn forest answers, as the learner returns it."""
    rows = learner._filled(X)
    if Task(learner.task) is Task.REGRESSION:
        return np.asarray(learner.estimator_.predict(rows), dtype=np.float64)
    return np.asarray(learner.estimator_.predict_proba(rows), dtype=np.float64)


def _learner_output(learner: RandomForestLearner, X: NDArray[np.float64]) -> NDArray[np.float64]:
    if Task(learner.task) is Task.REGRESSION:
        return np.asarray(learner.predict(X), dtype=np.float64)
    return learner.predict_proba(X)


def _fresh_rows(n: int, seed: int) -> NDArray[np.float64]:
    X, _ = _data(Task.REGRESSION, n=n, seed=seed)
    return X


def _assert_bit_identical(actual: NDArray[np.float64], expected: NDArray[np.float64]) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype == np.float64
    # Same bits, not merely equal values: also tells 0.0 from -0.0.
    assert np.array_equal(actual.view(np.int64), expected.view(np.int64))


@FORESTS
@TASKS
def test_the_learner_predicts_small_batches_with_the_packed_forest_bit_for_bit(
    learner_class: type[RandomForestLearner], task: Task
) -> None:
    learner = _fitted(learner_class, task)
    assert learner.packed_ is not None
    assert learner.packed_.routes_missing
    assert learner.packed_.n_trees == 40
    rows = _fresh_rows(_forest._PACKED_MAX_ROWS, seed=7)
    assert np.isnan(rows).any()
    _assert_bit_identical(_learner_output(learner, rows), _sklearn_output(learner, rows))
    for row in rows[:20]:
        single = row[None, :]
        _assert_bit_identical(_learner_output(learner, single), _sklearn_output(learner, single))
    packed = learner.packed_.predict(rows.astype(np.float32))
    if Task(learner.task) is Task.REGRESSION:
        _assert_bit_identical(packed[:, 0], _sklearn_output(learner, rows))
    else:
        _assert_bit_identical(packed, _sklearn_output(learner, rows))


@FORESTS
@TASKS
def test_a_loaded_learner_packs_again_and_predicts_the_same_bits(
    learner_class: type[RandomForestLearner], task: Task, tmp_path: Path
) -> None:
    learner = _fitted(learner_class, task, min_samples_leaf=3)
    files = learner.save(tmp_path)
    assert files == ["learner.json", "model.skops"]  # the packed arrays are not saved
    loaded = learner_class.load(tmp_path)
    assert loaded.packed_ is not None
    assert loaded.packed_ is not learner.packed_
    assert learner.packed_ is not None
    assert np.array_equal(loaded.packed_.threshold, learner.packed_.threshold)
    rows = _fresh_rows(100, seed=8)
    expected = _sklearn_output(learner, rows)
    _assert_bit_identical(_learner_output(loaded, rows), expected)
    _assert_bit_identical(_learner_output(loaded, rows[3:4]), expected[3:4])


@FORESTS
def test_large_batches_go_to_scikit_learn_and_the_packed_forest_agrees_in_chunks(
    learner_class: type[RandomForestLearner], monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = _fitted(learner_class, Task.MULTICLASS)
    assert learner.packed_ is not None
    rows = _fresh_rows(1_500, seed=9)
    expected = _sklearn_output(learner, rows)
    _assert_bit_identical(learner.predict_proba(rows), expected)
    # 2**10 pairs a chunk: 40 trees walk 25 rows at a time, 60 chunks.
    monkeypatch.setattr(_packed, "_PAIRS_PER_CHUNK", 2**10)
    _assert_bit_identical(learner.packed_.predict(rows.astype(np.float32)), expected)


@FORESTS
def test_filled_missing_values_are_packed_without_nan_routing(
    learner_class: type[RandomForestLearner], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_forest, "_allows_nan", lambda estimator: False)
    learner = _fitted(learner_class, Task.BINARY)
    assert learner.fill_values_ is not None
    assert learner.packed_ is not None
    assert not learner.packed_.routes_missing
    rows = _fresh_rows(50, seed=10)
    rows[:, 1] = np.nan
    expected = _sklearn_output(learner, rows)
    _assert_bit_identical(learner.predict_proba(rows), expected)
    assert not learner.packed_.accepts(rows.astype(np.float32))  # NaN must be filled first
    learner.save(tmp_path)
    loaded = learner_class.load(tmp_path)
    assert loaded.packed_ is not None
    assert not loaded.packed_.routes_missing
    _assert_bit_identical(loaded.predict_proba(rows), expected)


@FORESTS
def test_values_on_and_beside_every_threshold_go_the_same_way(
    learner_class: type[RandomForestLearner],
) -> None:
    learner = _fitted(learner_class, Task.BINARY)
    estimator = learner.estimator_
    rng = np.random.default_rng(11)
    rows = np.zeros((3, 200, N_FEATURES))
    for feature in range(N_FEATURES):
        cuts = np.concatenate(
            [tree.tree_.threshold[tree.tree_.feature == feature] for tree in estimator.estimators_]
        )
        cuts = cuts[np.isfinite(cuts)]
        picked = rng.choice(cuts, size=200)
        nearest = picked.astype(np.float32)
        rows[0, :, feature] = nearest  # float32 rounding may land on either side
        rows[1, :, feature] = np.nextafter(nearest, np.float32(np.inf))
        rows[2, :, feature] = np.nextafter(nearest, np.float32(-np.inf))
        rows[:, :, feature][rng.random((3, 200)) < 0.05] = np.nan
    for batch in rows:
        _assert_bit_identical(learner.predict_proba(batch), _sklearn_output(learner, batch))


def test_a_constant_target_makes_single_leaf_trees() -> None:
    X = _fresh_rows(100, seed=12)
    learner = RandomForestLearner(task=Task.REGRESSION, params={"n_estimators": 7}).fit(
        X, np.full(100, 2.5)
    )
    assert learner.packed_ is not None
    assert learner.packed_.is_leaf.all()
    _assert_bit_identical(learner.predict(X[:5]), np.full(5, 2.5))


class _Leaf:
    """A one-node tree (the attributes of ``sklearn.tree._tree.Tree`` that are packed)."""

    children_left = children_right = feature = np.array([-1])
    threshold = np.array([-2.0])
    missing_go_to_left = np.array([0], dtype=np.uint8)

    def __init__(self, value: float) -> None:
        self.value = np.array([[[value]]])


def test_leaves_of_negative_zero_sum_to_positive_zero_as_in_scikit_learn() -> None:
    # scikit-learn adds tree outputs to zeros: 0.0 + -0.0 is 0.0.
    packed = PackedForest([_Leaf(-0.0), _Leaf(-0.0)])
    _assert_bit_identical(packed.predict(np.zeros((2, 1), dtype=np.float32)), np.zeros((2, 1)))
    packed = PackedForest([_Leaf(-0.0), _Leaf(-1.0)])
    _assert_bit_identical(packed.predict(np.zeros((1, 1), dtype=np.float32)), np.array([[-0.5]]))


def test_rows_scikit_learn_refuses_are_left_to_it() -> None:
    learner = _fitted(RandomForestLearner, Task.BINARY)
    packed = learner.packed_
    assert packed is not None
    too_large = np.full((1, N_FEATURES), 1e39)  # finite in float64, inf in float32
    assert packed.accepts(np.full((1, N_FEATURES), np.nan, dtype=np.float32))
    with np.errstate(over="ignore"):
        assert not packed.accepts(too_large.astype(np.float32))
        with pytest.raises(ValueError, match="too large for dtype"):
            learner.predict_proba(too_large)


def test_a_forest_that_disagrees_on_the_probe_rows_is_not_packed() -> None:
    X, y = _data(Task.BINARY)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert pack_forest(forest, allow_nan=True) is not None
    exact = forest.predict_proba
    forest.predict_proba = lambda rows: exact(rows) * (1 + 1e-15)
    assert pack_forest(forest, allow_nan=True) is None


def test_a_forest_with_several_outputs_is_not_packed() -> None:
    X, y = _data(Task.REGRESSION)
    forest = RandomForestRegressor(n_estimators=3).fit(np.nan_to_num(X), np.c_[y, -y])
    assert pack_forest(forest, allow_nan=False) is None


def test_a_learner_without_a_packed_forest_predicts_with_scikit_learn() -> None:
    learner = _fitted(RandomForestLearner, Task.MULTICLASS)
    rows = _fresh_rows(30, seed=13)
    expected = learner.predict_proba(rows)
    learner.packed_ = None
    _assert_bit_identical(learner.predict_proba(rows), expected)


def test_an_empty_forest_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one tree"):
        PackedForest([])


@cache
def _hypothesis_forest() -> tuple[RandomForestClassifier, PackedForest]:
    X, y = _data(Task.MULTICLASS, n=400)
    forest = RandomForestClassifier(n_estimators=25, random_state=2).fit(X, y)
    packed = pack_forest(forest, allow_nan=True)
    assert packed is not None
    return forest, packed


float32_values = st.one_of(
    st.floats(width=32, allow_infinity=False),
    st.floats(min_value=-3.0, max_value=3.0, width=32),
    st.sampled_from([0.0, -0.0, 1.0]),
)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 12), st.just(N_FEATURES)), elements=float32_values)
)
def test_any_float32_rows_are_predicted_bit_for_bit(rows: NDArray[np.float32]) -> None:
    forest, packed = _hypothesis_forest()
    assert packed.accepts(rows)
    _assert_bit_identical(packed.predict(rows), forest.predict_proba(rows))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_packed, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2
    assert result.failed == 0


def test_trees_that_cannot_be_read_are_not_packed() -> None:
    X, y = _data(Task.BINARY)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    forest.estimators_[1].tree_ = _Leaf(0.5)  # one value a leaf, not one per class
    assert pack_forest(forest, allow_nan=True) is None
