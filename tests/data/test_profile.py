"""Profiles: exact seeded statistics, fixed-edge histograms, JSON round-trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.data import (
    QUANTILE_LEVELS,
    CategorySummary,
    DatetimeSummary,
    Histogram,
    NumericSummary,
    Profile,
    TextSummary,
    infer_schema,
    profile,
)


def _schema(**kinds: ColumnKind) -> Schema:
    return Schema(tuple(Column(name, kind) for name, kind in kinds.items()))


def _numeric(summary: object) -> NumericSummary:
    assert isinstance(summary, NumericSummary)
    return summary


def test_seeded_numeric_statistics_are_exact() -> None:
    values = np.random.default_rng(42).normal(10.0, 2.0, 1000)
    df = pd.DataFrame({"x": values})

    column = Profile.from_frame(df, _schema(x=ColumnKind.NUMERIC))["x"]
    summary = _numeric(column.summary)

    assert (column.count, column.missing, column.missing_rate) == (1000, 0, 0.0)
    assert summary.mean == float(np.mean(values))
    assert summary.std == float(np.std(values, ddof=1))
    assert (summary.min, summary.max) == (values.min(), values.max())
    assert summary.quantiles == tuple(np.quantile(values, QUANTILE_LEVELS).tolist())
    assert len(QUANTILE_LEVELS) == 101 and QUANTILE_LEVELS[1] == 0.01
    assert summary.histogram.edges == tuple(np.quantile(values, np.linspace(0, 1, 21)).tolist())
    assert summary.histogram.counts == (50,) * 20


def test_golden_statistics_of_a_small_column() -> None:
    df = pd.DataFrame({"n": [1, 2, 2, 3, 3, 3, None, 10]})

    column = profile(df, _schema(n=ColumnKind.INTEGER))["n"]
    summary = _numeric(column.summary)

    assert (column.count, column.missing, column.missing_rate) == (7, 1, 0.125)
    assert (summary.mean, summary.min, summary.max) == (24 / 7, 1.0, 10.0)
    assert summary.std == pytest.approx(np.sqrt(376 / 7 / 6), rel=1e-15)
    assert summary.quantiles[50] == 3.0
    assert summary.histogram.edges == (1.0, 1.5, 2.5, 6.5, 10.0)
    assert summary.histogram.counts == (1, 2, 3, 1)


def test_histogram_bins_a_later_window_with_the_same_edges() -> None:
    reference = pd.DataFrame({"x": np.arange(100, dtype=float)})
    histogram = _numeric(profile(reference, _schema(x=ColumnKind.NUMERIC))["x"].summary).histogram

    window = [-50.0, 0.0, 4.9, 5.0, 99.0, 1e9, np.nan, np.inf]

    assert histogram.counts == (5,) * 20
    assert histogram.bin(window) == (2 + 1, 1) + (0,) * 17 + (2,)
    assert histogram.bin(np.arange(100, dtype=float)) == histogram.counts


def test_constant_numeric_column_has_one_bin() -> None:
    df = pd.DataFrame({"x": [4.0] * 5})

    summary = _numeric(profile(df, _schema(x=ColumnKind.NUMERIC))["x"].summary)

    assert summary.histogram == Histogram((4.0, 4.0), (5,))
    assert summary.std == 0.0


def test_infinities_are_counted_but_left_out_of_statistics() -> None:
    df = pd.DataFrame({"x": [1.0, 3.0, np.inf, -np.inf, np.nan]})

    column = profile(df, _schema(x=ColumnKind.NUMERIC))["x"]
    summary = _numeric(column.summary)

    assert (column.count, column.missing, summary.infinite) == (4, 1, 2)
    assert (summary.mean, summary.max) == (2.0, 3.0)


def test_words_in_a_numeric_column_are_invalid() -> None:
    df = pd.DataFrame({"x": ["1", "2.5", "oops", None]})

    column = profile(df, _schema(x=ColumnKind.NUMERIC))["x"]

    assert (column.count, column.missing, column.invalid) == (2, 1, 1)
    assert _numeric(column.summary).mean == 1.75


def test_category_frequencies_top_k_and_other() -> None:
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 3 + ["d"] * 2 + ["e"] + [None] * 4
    df = pd.DataFrame({"c": values})

    column = profile(df, _schema(c=ColumnKind.CATEGORICAL), top_k=3)["c"]

    assert column.summary == CategorySummary(
        distinct=5, top=(("a", 5), ("b", 5), ("c", 3)), other=3
    )
    assert column.summary.frequencies == {"a": 5, "b": 5, "c": 3, "__other__": 3}
    assert column.missing_rate == 0.2


def test_values_with_the_same_text_are_one_category() -> None:
    df = pd.DataFrame({"c": pd.Series([1, "1", 2], dtype=object)})

    summary = profile(df, _schema(c=ColumnKind.CATEGORICAL))["c"].summary

    assert summary == CategorySummary(distinct=2, top=(("1", 2), ("2", 1)), other=0)


def test_datetime_range_from_typed_and_text_dates() -> None:
    df = pd.DataFrame(
        {
            "typed": pd.to_datetime(["2024-03-01", "2023-01-05", None]),
            "text": ["2024-03-01", "2023-01-05", "never"],
        }
    )

    result = profile(df, _schema(typed=ColumnKind.DATETIME, text=ColumnKind.DATETIME))

    expected = DatetimeSummary(min="2023-01-05T00:00:00", max="2024-03-01T00:00:00")
    assert result["typed"].summary == result["text"].summary == expected
    assert (result["typed"].missing, result["text"].invalid) == (1, 1)


def test_text_length_statistics() -> None:
    df = pd.DataFrame({"t": ["ab", "abcd", "abcdef", None]})

    summary = profile(df, _schema(t=ColumnKind.TEXT))["t"].summary

    assert isinstance(summary, TextSummary)
    assert (summary.length.mean, summary.length.min, summary.length.max) == (4.0, 2.0, 6.0)


def test_dropped_columns_are_left_out_and_the_target_kept(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame, target="churn")

    result = Profile.from_frame(mixed_frame, schema)

    assert result.names == [c.name for c in schema.features] + ["churn"]
    assert result.target == "churn" and result.rows == 200


def test_real_data_profile_is_json_and_deterministic(males: pd.DataFrame) -> None:
    schema = infer_schema(males, target="wage")

    first = Profile.from_frame(males, schema).to_dict()
    second = Profile.from_frame(males.copy(), schema).to_dict()

    text = json.dumps(first, allow_nan=False, sort_keys=True)
    assert text == json.dumps(second, allow_nan=False, sort_keys=True)
    assert Profile.from_dict(json.loads(text)).to_dict() == first
    assert first["columns"][5]["summary"]["top"][0] == ["other", 3176]


def test_missing_schema_columns_are_named() -> None:
    df = pd.DataFrame({"a": [1.0]})

    with pytest.raises(ValidationError, match=r"columns \['b'\] of the schema are missing"):
        profile(df, _schema(a=ColumnKind.NUMERIC, b=ColumnKind.NUMERIC))


@pytest.mark.parametrize("bins", [0, -1, 2.5])
def test_bins_must_be_a_positive_integer(bins: object) -> None:
    df = pd.DataFrame({"a": [1.0]})

    with pytest.raises(ValidationError, match="bins is"):
        profile(df, _schema(a=ColumnKind.NUMERIC), bins=bins)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [{}, {"format": 99, "rows": 1, "columns": []}, {"format": 1, "rows": 1, "columns": [{}]}],
)
def test_malformed_profile_data_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="profile data is not valid"):
        Profile.from_dict(data)


_frames = hpd.data_frames(
    [
        hpd.column("f", elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
        hpd.column("i", elements=st.integers(-(2**40), 2**40)),
        hpd.column("s", elements=st.none() | st.sampled_from(["a", "b", "ccc", "", "12", "1e3"])),
        hpd.column("t", elements=st.none() | st.text(max_size=30)),
    ],
    index=hpd.range_indexes(min_size=1, max_size=40),
)


@settings(max_examples=40, deadline=None)
@given(df=_frames, bins=st.integers(1, 12), top_k=st.integers(1, 4))
def test_profile_round_trips_through_json(df: pd.DataFrame, bins: int, top_k: int) -> None:
    schema = infer_schema(df)
    kept = _schema(f=ColumnKind.NUMERIC, i=ColumnKind.INTEGER, s=ColumnKind.CATEGORICAL)
    for source in (schema, kept, _schema(t=ColumnKind.TEXT, s=ColumnKind.NUMERIC)):
        original = Profile.from_frame(df, source, bins=bins, top_k=top_k)

        text = json.dumps(original.to_dict(), allow_nan=False)

        assert Profile.from_dict(json.loads(text)) == original
        for column in original.columns:
            assert column.count + column.missing + column.invalid == len(df)
            if isinstance(column.summary, NumericSummary):
                finite = column.count - column.summary.infinite
                assert sum(column.summary.histogram.counts) == finite
