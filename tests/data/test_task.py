"""Task detection from target values, and checks of a declared task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import Task, ValidationError
from modelcycle.data import detect_task


def test_real_data_sets(
    breast_cancer: pd.DataFrame, iris: pd.DataFrame, diabetes: pd.DataFrame, males: pd.DataFrame
) -> None:
    assert detect_task(breast_cancer["target"]) is Task.BINARY
    assert detect_task(iris["target"]) is Task.MULTICLASS
    assert detect_task(diabetes["target"]) is Task.REGRESSION
    assert detect_task(males["wage"]) is Task.REGRESSION
    assert detect_task(males["union"]) is Task.BINARY
    assert detect_task(males["industry"]) is Task.MULTICLASS


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, True], Task.BINARY),
        (["yes", "no", None, "yes"], Task.BINARY),
        ([0.5, 1.5, 0.5], Task.BINARY),
        (["a", "b", "c"], Task.MULTICLASS),
        ([1, 2, 3, 4, 1], Task.MULTICLASS),
        ([1.0, 2.0, np.nan, 3.0], Task.MULTICLASS),
        (list(range(21)), Task.REGRESSION),
        ([0.1, 0.2, 0.35], Task.REGRESSION),
    ],
)
def test_detection_rules(values: list[object], expected: Task) -> None:
    assert detect_task(pd.Series(values, name="y")) is expected


def test_max_classes_moves_the_integer_threshold() -> None:
    target = pd.Series(np.arange(30) % 25)

    assert detect_task(target) is Task.REGRESSION
    assert detect_task(target, max_classes=25) is Task.MULTICLASS


@pytest.mark.parametrize("override", [Task.REGRESSION, "regression", " Regression "])
def test_override_is_accepted_when_it_fits(override: Task | str) -> None:
    assert detect_task(pd.Series([1, 2, 3, 1]), override) is Task.REGRESSION


def test_unknown_override_names_the_value_and_choices() -> None:
    with pytest.raises(ValidationError, match=r"task 'classification' is not known; expected one"):
        detect_task(pd.Series([0, 1]), "classification")


def test_binary_override_on_three_classes_names_the_count() -> None:
    target = pd.Series(["a", "b", "c", "a"], name="grade")

    with pytest.raises(
        ValidationError, match=r"'binary' needs exactly 2 classes, but target 'grade'"
    ):
        detect_task(target, "binary")


def test_regression_override_on_text_names_the_values() -> None:
    target = pd.Series(["low", "high", "mid"], name="risk")

    with pytest.raises(ValidationError, match=r"numeric target, but 'risk' holds .* 'low'"):
        detect_task(target, Task.REGRESSION)


def test_single_value_target_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"target 'y' has a single value 'only'"):
        detect_task(pd.Series(["only", "only", None], name="y"))


def test_all_missing_target_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"target 'y' has no values \(all 3 are missing\)"):
        detect_task(pd.Series([None, None, None], name="y", dtype=float))


def test_datetime_target_is_refused() -> None:
    target = pd.Series(pd.date_range("2024-01-01", periods=3), name="when")

    with pytest.raises(ValidationError, match="target 'when' holds dates"):
        detect_task(target)


def test_not_a_series_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected a pandas Series"):
        detect_task([0, 1])  # type: ignore[arg-type]
