"""Error analysis finds planted slices, ranks by size × excess error, and describes them."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.evaluation import Slice, row_errors, worst_slices
from tests.evaluation.conftest import Holdout


def customers(seed: int, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 81, n),
            "income": rng.lognormal(10, 0.5, n),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            "customer_id": [f"c{i}" for i in range(n)],
        }
    )


def test_planted_age_slice_is_found_first() -> None:
    frame = customers(0)
    rng = np.random.default_rng(1)
    errors = (rng.random(len(frame)) < np.where(frame["age"] > 60, 0.45, 0.05)).astype(float)
    found = worst_slices(frame, errors)
    first = found[0]
    assert first.feature == "age" and first.kind == "range"
    assert 55 <= first.lower <= 62 and first.upper == 80
    assert first.description == f"age >= {int(first.lower)}"
    assert first.error > 0.35 and first.overall_error == pytest.approx(errors.mean())
    assert first.impact == pytest.approx(first.size * (first.error - errors.mean()))
    assert [s.impact for s in found] == sorted((s.impact for s in found), reverse=True)
    assert "customer_id" not in {s.feature for s in found}  # identifiers are not slices


def test_planted_category_slice_is_found_first() -> None:
    frame = customers(2)
    rng = np.random.default_rng(3)
    errors = np.abs(rng.normal(size=len(frame))) + np.where(frame["plan"] == "team", 2.0, 0.0)
    first = worst_slices(frame, errors, top_k=3)[0]
    assert (first.description, first.kind, first.category) == ("plan = 'team'", "category", "team")
    assert first.size == int((frame["plan"] == "team").sum())


def test_range_slices_of_one_feature_do_not_overlap() -> None:
    frame = customers(4)
    errors = (frame["age"] > 50).astype(float) + (frame["age"] > 70)
    ranges = [s for s in worst_slices(frame, errors, top_k=20) if s.feature == "age"]
    spans = sorted((s.lower, s.upper) for s in ranges)
    assert all(a[1] < b[0] for a, b in pairwise(spans))


def test_missing_values_and_small_slices() -> None:
    frame = pd.DataFrame({"score": [np.nan] * 30 + list(np.linspace(0, 1, 170))})
    errors = np.r_[np.ones(30), np.zeros(170)]
    assert worst_slices(frame, errors)[0].description == "score is missing"
    assert worst_slices(frame, errors, min_size=31) == []


def test_schema_chooses_kinds() -> None:
    frame = pd.DataFrame({"rooms": np.tile(np.arange(1, 9), 50), "zip": np.repeat([1, 2], 200)})
    errors = (frame["zip"] == 2).astype(float).to_numpy()
    schema = Schema(
        (Column("rooms", ColumnKind.INTEGER), Column("zip", ColumnKind.CATEGORICAL)),
    )
    assert worst_slices(frame, errors, schema=schema)[0].description == "zip = 2"
    only_rooms = Schema((Column("rooms", ColumnKind.INTEGER), Column("zip", ColumnKind.IDENTIFIER)))
    assert worst_slices(frame, errors, schema=only_rooms) == []


def test_few_valued_numbers_are_split_by_value() -> None:
    frame = {"children": np.tile([0, 1, 2, 3], 50)}
    errors = (frame["children"] == 3).astype(float)
    assert worst_slices(frame, errors)[0].description == "children = 3"


def test_real_holdout_slices_are_worse_than_overall(cancer: Holdout) -> None:
    errors = row_errors("binary", cancer.y, cancer.proba, loss="log_loss")
    found = worst_slices(cancer.frame, errors, top_k=5)
    assert len(found) == 5
    for record in found:
        column = cancer.frame[record.feature]
        inside = (column >= record.lower) & (column <= record.upper)
        assert inside.sum() == record.size
        assert errors[inside.to_numpy()].mean() == pytest.approx(record.error)
        assert record.error > record.overall_error


def test_row_errors_by_task_and_loss() -> None:
    assert row_errors("binary", [1, 0], [0.25, 0.25], loss="log_loss") == pytest.approx(
        [-np.log(0.25), -np.log(0.75)]
    )
    assert row_errors("multiclass", [2], [[0.2, 0.3, 0.5]], loss="log_loss")[0] == pytest.approx(
        -np.log(0.5)
    )
    assert row_errors("multiclass", [2, 0], [[0.2, 0.3, 0.5]] * 2).tolist() == [0.0, 1.0]
    assert row_errors("regression", [1.0, 3.0], [2.0, 1.0], loss="squared").tolist() == [1.0, 4.0]
    with pytest.raises(ValidationError, match="does not apply to a regression task"):
        row_errors("regression", [1.0], [1.0], loss="log_loss")


def test_errors_must_align_with_rows() -> None:
    with pytest.raises(ValidationError, match="errors has 2 rows but the frame has 3"):
        worst_slices(pd.DataFrame({"a": [1, 2, 3]}), [0.0, 1.0])


slices = st.builds(
    Slice,
    feature=st.text(min_size=1, max_size=10),
    kind=st.sampled_from(["range", "category", "missing"]),
    description=st.text(max_size=30),
    size=st.integers(0, 10**6),
    error=st.floats(allow_nan=False, allow_infinity=False),
    overall_error=st.floats(allow_nan=False, allow_infinity=False),
    lower=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    upper=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    category=st.none() | st.text(max_size=10),
)


@settings(max_examples=50, deadline=None)
@given(slices)
def test_slice_round_trips(record: Slice) -> None:
    assert Slice.from_dict(record.to_dict()) == record


def test_unnamed_columns_and_bad_sizes() -> None:
    frame = pd.DataFrame(np.column_stack([np.arange(200.0), np.zeros(200)]))  # columns 0 and 1
    errors = (frame[0] < 40).astype(float)
    assert worst_slices(frame, errors)[0].description == "0 <= 39"
    with pytest.raises(ValidationError, match="must be at least 1"):
        worst_slices(frame, errors, top_k=0)
