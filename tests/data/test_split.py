"""Train/test splits: stratified for classes, seeded, and refusing what cannot be split."""

from __future__ import annotations

import pandas as pd
import pytest

from modelcycle.core import Task, ValidationError
from modelcycle.data import train_test_split_frame


def test_stratified_split_keeps_class_shares(breast_cancer: pd.DataFrame) -> None:
    train, test = train_test_split_frame(breast_cancer, "target", Task.BINARY, 0.25, 0)

    assert (len(train), len(test)) == (426, 143)
    assert test["target"].value_counts().to_dict() == {1: 90, 0: 53}
    assert train["target"].value_counts().to_dict() == {1: 267, 0: 159}


def test_split_is_a_seeded_partition_keeping_the_index(males: pd.DataFrame) -> None:
    train, test = train_test_split_frame(males, "industry", "multiclass", 0.2, 7)
    again_train, _ = train_test_split_frame(males, "industry", "multiclass", 0.2, 7)
    other_train, _ = train_test_split_frame(males, "industry", "multiclass", 0.2, 8)

    assert train.index.equals(again_train.index)
    assert not train.index.equals(other_train.index)
    assert set(train.index).isdisjoint(test.index)
    assert set(train.index) | set(test.index) == set(males.index)
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index(), males)


def test_regression_split_with_detected_task(diabetes: pd.DataFrame) -> None:
    train, test = train_test_split_frame(diabetes, "target", test_size=100)

    assert (len(train), len(test)) == (342, 100)


def test_missing_target_values_are_refused() -> None:
    df = pd.DataFrame({"x": range(10), "y": [0, 1] * 4 + [None, None]})

    with pytest.raises(ValidationError, match="target 'y' is missing in 2 of 10 rows"):
        train_test_split_frame(df, "y", Task.BINARY)


def test_a_single_row_class_is_named() -> None:
    df = pd.DataFrame({"x": range(9), "y": ["a", "b"] * 4 + ["lonely"]})

    with pytest.raises(ValidationError, match=r"classes with a single row \('lonely'\)"):
        train_test_split_frame(df, "y", Task.MULTICLASS)


def test_a_test_set_smaller_than_the_classes_is_refused() -> None:
    df = pd.DataFrame({"x": range(12), "y": ["a", "b", "c"] * 4})

    with pytest.raises(ValidationError, match="expected a test size of at least one row per"):
        train_test_split_frame(df, "y", Task.MULTICLASS, test_size=2)


@pytest.mark.parametrize("size", [0, 1.0, -0.2, 10, True, "half"])
def test_test_size_out_of_range_is_refused(size: object) -> None:
    df = pd.DataFrame({"x": range(10), "y": [0, 1] * 5})

    with pytest.raises(ValidationError, match=f"test_size is {size!r}; expected a share"):
        train_test_split_frame(df, "y", Task.BINARY, test_size=size)  # type: ignore[arg-type]


def test_absent_target_is_named() -> None:
    with pytest.raises(ValidationError, match=r"target column 'y' is not in the table.*\['x'\]"):
        train_test_split_frame(pd.DataFrame({"x": [1, 2]}), "y", Task.BINARY)
