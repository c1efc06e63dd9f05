"""Validation before training: one test per problem, each naming column, value or count."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from modelcycle.core import Column, ColumnKind, Schema, Task, ValidationError
from modelcycle.data import (
    Issue,
    Severity,
    ValidationReport,
    ValidationRules,
    infer_schema,
    validate,
)


def _frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "k": rng.integers(0, 5, rows),
            "c": rng.choice(["u", "v", "w"], rows),
            "y": rng.choice(["no", "yes"], rows),
        }
    )


def _only(report: ValidationReport, code: str) -> Issue:
    found = [issue for issue in report.issues if issue.code == code]
    assert len(found) == 1, report.codes()
    return found[0]


def test_clean_real_data_has_no_issues(breast_cancer: pd.DataFrame, males: pd.DataFrame) -> None:
    cancer = validate(breast_cancer, infer_schema(breast_cancer, target="target"))
    wages = validate(males, infer_schema(males, target="wage"))

    assert cancer.ok and cancer.task is Task.BINARY and cancer.issues == ()
    assert wages.ok and wages.task is Task.REGRESSION and wages.issues == ()
    assert cancer.rows == 569


def test_missing_target_column_is_an_error_naming_it() -> None:
    df = _frame()
    schema = infer_schema(df, target="y")

    report = validate(df.drop(columns="y"), schema)

    issue = _only(report, "missing_target")
    assert issue.severity is Severity.ERROR and issue.column == "y"
    with pytest.raises(ValidationError, match=r"1 error\(s\):\n- target column 'y' is missing"):
        report.raise_for_errors()


def test_all_missing_target_is_an_error() -> None:
    df = _frame().assign(y=None)
    schema = infer_schema(_frame(), target="y")

    issue = _only(validate(df, schema), "target_empty")

    assert issue.message == "target 'y' has no values; all are missing"


def test_one_class_target_is_an_error_naming_the_class() -> None:
    df = _frame().assign(y="yes")

    issue = _only(validate(df, infer_schema(df, target="y")), "target_single_value")

    assert "target 'y' has a single value 'yes'" in issue.message


def test_rows_without_target_are_a_warning_with_the_count() -> None:
    df = _frame()
    df.loc[:9, "y"] = None

    issue = _only(validate(df, infer_schema(df, target="y")), "target_missing")

    assert issue.severity is Severity.WARNING
    assert issue.message.startswith("target 'y' is missing in 10 of 200 rows (5.0%)")


def test_numbers_and_words_in_one_column_name_column_and_examples() -> None:
    df = _frame()
    df["k"] = df["k"].astype(str)
    df.loc[[3, 7], "k"] = ["four", "n/a"]

    issue = _only(validate(df, infer_schema(df, target="y")), "mixed_types")

    assert issue.column == "k" and issue.severity is Severity.WARNING
    assert "column 'k' mixes numbers and words: 198 numbers" in issue.message
    assert "2 other values (e.g. 'four', 'n/a')" in issue.message


def test_python_objects_of_mixed_types_are_flagged() -> None:
    df = _frame()
    df["c"] = df["c"].astype(object)
    df.loc[0, "c"] = 17

    issue = _only(validate(df, infer_schema(df, target="y")), "mixed_types")

    assert "1 numbers (e.g. '17')" in issue.message


def test_unparseable_dates_are_a_warning_naming_examples() -> None:
    df = _frame()
    df["day"] = pd.date_range("2024-01-01", periods=200, freq="D").strftime("%Y-%m-%d")
    df.loc[5, "day"] = "2024-02-30"
    schema = infer_schema(df, target="y")

    issue = _only(validate(df, schema), "unparseable_dates")

    assert schema["day"].kind is ColumnKind.DATETIME
    assert "column 'day' has 1 values that do not parse as dates (e.g. '2024-02-30')" in (
        issue.message
    )


def test_a_date_column_where_nothing_parses_is_an_error() -> None:
    df = _frame().assign(day="soon")
    schema = infer_schema(df, target="y", overrides={"day": {"kind": "datetime", "drop": False}})

    issue = _only(validate(df, schema), "dates_unparseable")

    assert issue.message == (
        "column 'day' is declared datetime but no value parses as a date (e.g. 'soon')"
    )


def test_list_cells_are_an_error_not_an_exception() -> None:
    df = _frame()
    schema = infer_schema(df, target="y")
    df["c"] = [["u"]] * len(df)

    issue = _only(validate(df, schema), "unsupported_values")

    assert issue.message.startswith("column 'c' holds list values such as ['u']")


def test_duplicated_rows_are_counted(iris: pd.DataFrame) -> None:
    issue = _only(validate(iris, infer_schema(iris, target="target")), "duplicated_rows")

    assert issue.details == {"rows": 1}
    assert issue.message.startswith("1 rows (0.7%) duplicate earlier rows")


def test_a_numeric_copy_of_the_target_is_a_leakage_suspect(breast_cancer: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    df = breast_cancer.assign(refund_score=breast_cancer["target"] * 10 + rng.random(569))

    issue = _only(validate(df, infer_schema(df, target="target")), "leakage")

    assert issue.column == "refund_score"
    assert issue.details == {"score": 1.0, "metric": "roc_auc"}
    assert "column 'refund_score' alone predicts target 'target' almost perfectly" in issue.message


def test_a_categorical_copy_of_the_target_is_a_leakage_suspect(males: pd.DataFrame) -> None:
    df = males.assign(union_code=males["union"].map({"yes": "U1", "no": "U0"}))

    issue = _only(validate(df, infer_schema(df, target="union")), "leakage")

    assert issue.column == "union_code"


def test_a_regression_leak_is_measured_by_r2(diabetes: pd.DataFrame) -> None:
    df = diabetes.assign(cost=diabetes["target"] * 3.5 + 12)

    issue = _only(validate(df, infer_schema(df, target="target")), "leakage")

    assert issue.column == "cost" and issue.details["metric"] == "r2"
    assert float(issue.details["score"]) > 0.99


def test_a_leak_hidden_among_values_beyond_float32_is_still_found(
    diabetes: pd.DataFrame,
) -> None:
    """scikit-learn's trees refuse infinities and values beyond float32; ranks keep the order."""
    cost = diabetes["target"] * 1e36  # up to ~3.5e38: past float32's largest value
    cost.iloc[:3] = [np.inf, -np.inf, np.nan]
    df = diabetes.assign(cost=cost)

    issue = _only(validate(df, infer_schema(df, target="target")), "leakage")

    assert issue.column == "cost" and float(issue.details["score"]) > 0.95


def test_class_imbalance_reports_the_ratio() -> None:
    df = _frame(rows=440)
    df["y"] = ["rare"] * 40 + ["common"] * 400

    issue = _only(validate(df, infer_schema(df, target="y")), "class_imbalance")

    assert issue.details == {"ratio": 10.0}
    assert "class 'common' has 400 rows and class 'rare' 40 (ratio 10.0)" in issue.message


def test_fewer_than_the_minimum_rows_is_an_error() -> None:
    df = _frame(rows=15)

    issue = _only(validate(df, infer_schema(df, target="y")), "too_few_rows")

    assert issue.message == "only 15 labelled rows; expected at least 20 to train and validate"


def test_few_rows_is_a_warning() -> None:
    df = _frame(rows=60)

    report = validate(df, infer_schema(df, target="y"))

    assert report.ok
    assert _only(report, "few_rows").message.startswith("only 60 labelled rows")


def test_a_class_below_five_rows_is_an_error_naming_it() -> None:
    df = _frame(rows=100)
    df.loc[:2, "y"] = "maybe"

    issue = _only(validate(df, infer_schema(df, target="y")), "class_too_small")

    assert issue.message == "target 'y' has classes with fewer than 5 rows: 'maybe' has 3"
    assert issue.details == {"classes": {"maybe": 3}}


def test_a_class_below_twenty_rows_is_a_warning() -> None:
    df = _frame(rows=100)
    df.loc[:9, "y"] = "maybe"

    issue = _only(validate(df, infer_schema(df, target="y")), "small_class")

    assert issue.severity is Severity.WARNING and "'maybe' has 10" in issue.message


def test_rules_change_the_thresholds() -> None:
    df = _frame(rows=60)

    report = validate(df, infer_schema(df, target="y"), rules=ValidationRules(min_rows=100))

    assert report.codes() == ["too_few_rows"]


def test_an_empty_table_is_an_error() -> None:
    df = _frame()

    report = validate(df.iloc[:0], infer_schema(df, target="y"))

    assert report.codes() == ["no_rows"]


def test_missing_and_unknown_columns() -> None:
    df = _frame()
    schema = infer_schema(df, target="y")

    report = validate(df.drop(columns="c").assign(extra=1), schema)

    assert _only(report, "missing_column").details == {"columns": ["c"]}
    assert "columns ['extra'] are not in the schema" in _only(report, "unknown_column").message


def test_values_outside_declared_categories_are_named() -> None:
    df = _frame()
    schema = infer_schema(df, target="y")

    report = validate(df.assign(c=df["c"].replace("w", "z")), schema)

    issue = _only(report, "unknown_categories")
    assert issue.message.startswith("column 'c' has ")
    assert "(e.g. 'z'); expected one of ['u', 'v', 'w']" in issue.message


def test_missing_values_in_a_column_declared_without_them() -> None:
    df = _frame()
    schema = infer_schema(df, target="y")
    df.loc[:3, "x"] = np.nan

    issue = _only(validate(df, schema), "unexpected_missing")

    assert issue.message == "column 'x' was declared without missing values but has 4"


def test_a_declared_task_that_does_not_fit_is_an_error() -> None:
    df = _frame()

    issue = _only(validate(df, infer_schema(df, target="y"), task="regression"), "task_mismatch")

    assert "task 'regression' needs a numeric target, but 'y'" in issue.message


def test_a_task_without_target_is_an_error() -> None:
    df = _frame()

    report = validate(df, infer_schema(df), task=Task.BINARY)

    assert report.codes() == ["no_target"]


def test_an_unknown_task_name_raises_at_once() -> None:
    df = _frame()

    with pytest.raises(ValidationError, match="task 'classify' is not known"):
        validate(df, infer_schema(df, target="y"), task="classify")


def test_arguments_of_the_wrong_type_raise() -> None:
    schema = Schema((Column("a", ColumnKind.NUMERIC),))

    with pytest.raises(ValidationError, match="expected a pandas DataFrame; got a dict"):
        validate({"a": [1]}, schema)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected a modelcycle Schema; got a dict"):
        validate(pd.DataFrame({"a": [1]}), {"a": "numeric"})  # type: ignore[arg-type]


def test_raise_for_errors_lists_every_error_with_details() -> None:
    df = _frame(rows=12).assign(y="same")

    report = validate(df, infer_schema(df, target="y"))

    with pytest.raises(ValidationError) as caught:
        report.raise_for_errors()
    assert str(caught.value).count("\n- ") == 2
    codes = [e["code"] for e in caught.value.details["errors"]]
    assert codes == ["target_single_value", "too_few_rows"]


def test_report_is_frozen_and_round_trips_through_json(iris: pd.DataFrame) -> None:
    report = validate(iris, infer_schema(iris, target="target"))

    data = json.loads(json.dumps(report.to_dict()))

    assert ValidationReport.from_dict(data) == report
    assert data["ok"] is True and data["task"] == "multiclass"
    with pytest.raises(AttributeError):
        report.rows = 3  # type: ignore[misc]


_any_frame = hpd.data_frames(
    [
        hpd.column("f", elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
        hpd.column("s", elements=st.none() | st.sampled_from(["a", "b", "1", "2.5", "2024-01-02"])),
        hpd.column("y", elements=st.none() | st.integers(0, 3)),
    ],
    index=hpd.range_indexes(min_size=0, max_size=60),
)


@settings(max_examples=30, deadline=None)
@given(df=_any_frame, task=st.none() | st.sampled_from(list(Task)))
def test_validate_reports_instead_of_raising_on_any_frame(
    df: pd.DataFrame, task: Task | None
) -> None:
    report = validate(df, infer_schema(df, target="y"), task=task)

    assert json.loads(json.dumps(report.to_dict(), allow_nan=False)) == report.to_dict()
    assert report.ok == (report.errors == ())
