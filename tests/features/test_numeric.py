"""Numeric, integer, boolean and datetime columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import DATETIME_PARTS, Preprocessor


def schema_of(**kinds: ColumnKind) -> Schema:
    return Schema(tuple(Column(name, kind) for name, kind in kinds.items()))


def test_median_imputation_and_indicator_only_where_training_had_missing() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": [1, 2, 3, 4]})
    pre = Preprocessor(schema=schema_of(a=ColumnKind.NUMERIC, b=ColumnKind.INTEGER)).fit(frame)
    assert pre.feature_names_ == ["a", "b", "a__missing"]
    out = pre.transform([{"a": None, "b": None}, {"a": 5, "b": 7}])
    # b had no missing value in training: it is imputed (median 2.5) but gets no indicator.
    np.testing.assert_array_equal(out, [[3.0, 2.5, 1.0], [5.0, 7.0, 0.0]])


def test_infinite_values_count_as_missing() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.inf, 4.0]})
    pre = Preprocessor(schema=schema_of(a=ColumnKind.NUMERIC)).fit(frame)
    assert pre.transform({"a": [-np.inf]}).tolist() == [[2.0, 1.0]]


def test_scaling_uses_training_mean_and_standard_deviation() -> None:
    features, _ = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    schema = Schema(tuple(Column(name, ColumnKind.NUMERIC) for name in features.columns))
    pre = Preprocessor(schema=schema, scale=True).fit(features)
    out = pre.transform(features)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-12)
    expected = (features - features.mean()) / features.std(ddof=0)
    np.testing.assert_allclose(out, expected.to_numpy(), rtol=1e-12, atol=1e-12)


def test_constant_column_scales_to_zero_not_nan() -> None:
    frame = pd.DataFrame({"a": [5.0, 5.0, 5.0]})
    pre = Preprocessor(schema=schema_of(a=ColumnKind.NUMERIC), scale=True).fit(frame)
    assert pre.transform({"a": [5.0, 6.0]}).tolist() == [[0.0], [1.0]]


def test_column_entirely_missing_in_training_is_filled_with_zero() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan]})
    pre = Preprocessor(schema=schema_of(a=ColumnKind.NUMERIC), scale=True).fit(frame)
    assert pre.transform([{"a": None}, {"a": 3}]).tolist() == [[0.0, 1.0], [3.0, 0.0]]


def test_booleans_become_zero_one_and_impute_the_most_frequent_value() -> None:
    frame = pd.DataFrame({"flag": pd.array([True, True, None, False], dtype="boolean")})
    pre = Preprocessor(schema=schema_of(flag=ColumnKind.BOOLEAN), scale=True).fit(frame)
    assert pre.feature_names_ == ["flag", "flag__missing"]
    rows = [{"flag": v} for v in (True, False, None, "yes", "No", 1, 0.0, np.bool_(True))]
    out = pre.transform(rows)
    assert out[:, 0].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]  # not scaled
    assert out[:, 1].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_boolean_with_two_own_spellings_learns_them_in_declared_order() -> None:
    column = Column("sex", ColumnKind.BOOLEAN, categories=("M", "F"))
    frame = pd.DataFrame({"sex": ["F", "M", "M", None]})
    pre = Preprocessor(schema=Schema((column,))).fit(frame)
    assert pre.transform({"sex": ["M", "F"]})[:, 0].tolist() == [0.0, 1.0]


def test_boolean_with_more_than_two_spellings_is_refused_at_fit() -> None:
    frame = pd.DataFrame({"size": ["S", "M", "L"]})
    with pytest.raises(ValidationError, match=r"boolean column 'size'.*categorical"):
        Preprocessor(schema=schema_of(size=ColumnKind.BOOLEAN)).fit(frame)


def test_datetime_parts_from_every_kind_of_value() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-02-29 13:45:00", "1999-12-31 23:59:59"])})
    pre = Preprocessor(schema=schema_of(when=ColumnKind.DATETIME)).fit(frame)
    assert pre.feature_names_ == [f"when__{part}" for part in DATETIME_PARTS]
    expected = [2024.0, 2.0, 29.0, 3.0, 13.0, 1709214300.0]  # a Thursday
    paris = dt.timezone(dt.timedelta(hours=1))
    values = [
        "2024-02-29T13:45:00",
        "2024-02-29T14:45:00+01:00",
        "2024-02-29 13:45:00Z",
        dt.datetime(2024, 2, 29, 14, 45, tzinfo=paris),
        pd.Timestamp("2024-02-29 13:45:00", tz="UTC"),
        np.datetime64("2024-02-29T13:45:00"),
    ]
    out = pre.transform({"when": values})
    np.testing.assert_array_equal(out, [expected] * len(values))
    midnight = pre.transform([{"when": dt.date(1970, 1, 1)}])
    assert midnight.tolist() == [[1970.0, 1.0, 1.0, 3.0, 0.0, 0.0]]


def test_timezone_aware_frame_column_is_read_in_utc() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-03-01 01:30"]).tz_localize("Europe/Oslo")})
    pre = Preprocessor(schema=schema_of(when=ColumnKind.DATETIME)).fit(frame)
    year, month, day, weekday, hour, seconds = pre.transform(frame)[0]
    assert (year, month, day, weekday, hour) == (2024.0, 3.0, 1.0, 4.0, 0.0)
    assert seconds == pd.Timestamp("2024-03-01 00:30", tz="UTC").timestamp()


def test_missing_datetime_takes_the_parts_of_the_median_instant() -> None:
    stamps = pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-05", None])
    pre = Preprocessor(schema=schema_of(when=ColumnKind.DATETIME)).fit(
        pd.DataFrame({"when": stamps})
    )
    assert pre.feature_names_[-1] == "when__missing"
    out = pre.transform([{"when": None}])
    assert out.tolist() == [[2020.0, 1.0, 3.0, 4.0, 0.0, 1578009600.0, 1.0]]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ColumnKind.NUMERIC, "12.5", "a number"),
        (ColumnKind.INTEGER, [1], "a number"),
        (ColumnKind.BOOLEAN, "perhaps", "a boolean"),
        (ColumnKind.BOOLEAN, 2, "a boolean"),
        (ColumnKind.DATETIME, "yesterday", "ISO 8601"),
        (ColumnKind.DATETIME, 1700000000, "ISO 8601"),
    ],
)
def test_wrong_type_names_row_column_value_and_expected_type(
    kind: ColumnKind, value: object, expected: str
) -> None:
    good = {
        ColumnKind.NUMERIC: 1.0,
        ColumnKind.INTEGER: 1,
        ColumnKind.BOOLEAN: True,
        ColumnKind.DATETIME: pd.Timestamp("2024-01-01"),
    }[kind]
    pre = Preprocessor(schema=schema_of(x=kind)).fit(pd.DataFrame({"x": [good, good]}))
    rows = [{"x": good}, {"x": good}, {"x": value}]
    for data in (rows, {"x": [good, good, value]}, pd.DataFrame({"x": [good, good, value]})):
        with pytest.raises(ValidationError) as caught:
            pre.transform(data)
        message = str(caught.value)
        assert "column 'x', row 2" in message
        assert repr(value) in message
        assert expected in message
        assert caught.value.details["row"] == 2


def test_string_in_numeric_training_column_is_refused_at_fit() -> None:
    frame = pd.DataFrame({"a": ["1", "2", "?"]})
    with pytest.raises(ValidationError, match=r"column 'a', row 0: got '1' \(str\)"):
        Preprocessor(schema=schema_of(a=ColumnKind.NUMERIC)).fit(frame)
