"""Schema inference on real and generated tables, and the errors of bad input."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import ColumnKind, Schema, ValidationError
from modelcycle.data import infer_schema

K = ColumnKind


def _kinds(schema: Schema) -> dict[str, ColumnKind]:
    return {c.name: c.kind for c in schema.columns}


def test_breast_cancer_features_are_numeric_and_target_boolean(
    breast_cancer: pd.DataFrame,
) -> None:
    schema = infer_schema(breast_cancer, target="target")

    kinds = _kinds(schema)
    assert schema.target == "target"
    assert kinds.pop("target") is K.BOOLEAN
    assert set(kinds.values()) == {K.NUMERIC}
    assert len(schema.features) == 30
    assert schema["target"].categories == ("0", "1")


def test_males_kinds(males: pd.DataFrame) -> None:
    schema = infer_schema(males, target="wage")

    assert _kinds(schema) == {
        "nr": K.INTEGER,
        "year": K.INTEGER,
        "school": K.INTEGER,
        "exper": K.INTEGER,
        "union": K.BOOLEAN,
        "ethn": K.CATEGORICAL,
        "married": K.BOOLEAN,
        "health": K.BOOLEAN,
        "wage": K.NUMERIC,
        "industry": K.CATEGORICAL,
        "occupation": K.CATEGORICAL,
        "residence": K.CATEGORICAL,
    }
    assert schema["ethn"].categories == ("black", "hisp", "other")
    assert schema["union"].categories == ("no", "yes")
    assert schema["residence"].nullable and not schema["wage"].nullable
    assert not any(c.dropped for c in schema.columns)


def test_every_kind_of_the_mixed_frame(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame, target="churn")

    assert _kinds(schema) == {
        "customer_id": K.IDENTIFIER,
        "row": K.IDENTIFIER,
        "amount": K.NUMERIC,
        "visits": K.INTEGER,
        "active": K.BOOLEAN,
        "member": K.BOOLEAN,
        "plan": K.CATEGORICAL,
        "signup": K.DATETIME,
        "last_seen": K.DATETIME,
        "comment": K.TEXT,
        "source": K.CONSTANT,
        "unused": K.CONSTANT,
        "zip": K.CATEGORICAL,
        "churn": K.CATEGORICAL,
    }
    dropped = {c.name for c in schema.columns if c.dropped}
    assert dropped == {"customer_id", "row", "source", "unused"}
    assert [c.name for c in schema.features] == [
        "amount", "visits", "active", "member", "plan", "signup", "last_seen", "comment", "zip",
    ]  # fmt: skip


def test_dropped_columns_carry_a_note_naming_why(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame, target="churn")

    assert "identifier-like: 200 distinct values in 200 rows" in str(schema["customer_id"].note)
    assert schema["source"].note == "constant: every value is 'web'"
    assert schema["unused"].note == "every value is missing"
    assert schema.notes[0].startswith("dropped from modelling: 'customer_id' (identifier)")


def test_uuid_column_is_an_identifier_even_in_a_small_table() -> None:
    df = pd.DataFrame({"token": [str(uuid.UUID(int=i + 99)) for i in range(5)], "x": range(5)})

    assert infer_schema(df)["token"].kind is K.IDENTIFIER


def test_a_shuffled_numeric_code_unique_per_row_is_an_identifier() -> None:
    """Issue 12: a district code (whole numbers, one per row, in no order) is dropped too."""
    codes = np.random.default_rng(0).permutation(np.arange(60_000, 60_000 + 420) * 7)
    df = pd.DataFrame({"district": codes, "income": np.linspace(1.5, 9.0, 420)})

    schema = infer_schema(df)

    assert schema["district"].kind is K.IDENTIFIER and schema["district"].dropped
    assert "declare its kind in a schema file to keep it" in str(schema["district"].note)
    assert schema["income"].kind is K.NUMERIC  # continuous values unique per row stay


def test_small_unique_columns_stay_features() -> None:
    df = pd.DataFrame({"year": [2001, 2002, 2003, 2004], "name": ["a", "b", "c", "d"]})

    assert _kinds(infer_schema(df)) == {"year": K.INTEGER, "name": K.CATEGORICAL}


def test_categories_are_listed_only_for_low_cardinality() -> None:
    df = pd.DataFrame({"city": [f"c{i % 60}" for i in range(300)]})

    low = infer_schema(df, max_categories=60)["city"]
    high = infer_schema(df)["city"]

    assert low.categories is not None and len(low.categories) == 60
    assert high.categories is None
    assert high.note == "high cardinality: 60 distinct values, more than 50 listed"


def test_numbers_in_text_become_numeric_with_a_note_on_the_words() -> None:
    values = [str(v / 4) for v in range(99)] + ["n/a-ish"]
    schema = infer_schema(pd.DataFrame({"price": values}))

    assert schema["price"].kind is K.NUMERIC
    assert schema["price"].note == (
        "1 values are not numbers (e.g. 'n/a-ish'); they are read as missing"
    )


def test_leading_zero_codes_stay_categorical() -> None:
    df = pd.DataFrame({"code": ["007", "012", "007", "100"] * 10})

    assert infer_schema(df)["code"].kind is K.CATEGORICAL


def test_date_objects_and_timezone_aware_text_are_datetimes() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i % 5) for i in range(30)]
    stamps = [f"2024-01-0{1 + i % 5}T10:00:00+02:00" for i in range(30)]
    schema = infer_schema(pd.DataFrame({"day": days, "stamp": stamps}))

    assert schema["day"].kind is K.DATETIME
    assert schema["stamp"].kind is K.DATETIME


def test_numeric_zero_one_features_stay_numbers_but_targets_are_boolean() -> None:
    # Regression (benchmark on digits): a pixel that was 0/1 in training and 2 in the test
    # set must not be refused, so a 0/1 feature is an integer, not a boolean.
    df = pd.DataFrame({"flag": [0, 1, 1, 0, np.nan], "y": [1, 0, 1, 0, 1]})

    schema = infer_schema(df, target="y")

    assert schema["flag"].kind is K.INTEGER and schema["flag"].nullable
    assert schema["y"].kind is K.BOOLEAN and schema["y"].categories == ("0", "1")


def test_target_is_never_dropped_even_when_unique_or_constant() -> None:
    df = pd.DataFrame({"key_id": range(30), "price": np.arange(30) * 10, "c": 1})

    unique_target = infer_schema(df, target="price")["price"]
    constant_target = infer_schema(df, target="c")["c"]

    assert unique_target.kind is K.INTEGER and not unique_target.dropped
    assert constant_target.kind is K.CONSTANT and not constant_target.dropped


def test_whole_floats_with_missing_values_are_integers() -> None:
    df = pd.DataFrame({"children": [0.0, 2.0, np.nan, 3.0, 1.0] * 4})

    assert infer_schema(df)["children"].kind is K.INTEGER


def test_missing_target_names_the_column_and_the_columns() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})

    with pytest.raises(
        ValidationError, match=r"target column 'y' is not in the table.*\['a', 'b'\]"
    ):
        infer_schema(df, target="y")


def test_a_missing_target_in_a_wide_table_names_twenty_columns_and_the_count() -> None:
    df = pd.DataFrame({f"c{i}": [0] for i in range(50)})

    with pytest.raises(ValidationError, match=r"'c18'\] and 31 more$"):
        infer_schema(df, target="y")


def test_non_text_column_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="column name 0 is a int; expected text names"):
        infer_schema(pd.DataFrame(np.zeros((3, 2))))


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected a pandas DataFrame; got a list"):
        infer_schema([[1, 2]])  # type: ignore[arg-type]


def test_unhashable_cells_name_the_column() -> None:
    df = pd.DataFrame({"tags": [["a"], ["b", "c"]]})

    with pytest.raises(ValidationError, match=r"column 'tags' holds list values such as \['a'\]"):
        infer_schema(df)


def test_inference_is_deterministic(mixed_frame: pd.DataFrame) -> None:
    first = infer_schema(mixed_frame, target="churn")
    second = infer_schema(mixed_frame.copy(), target="churn")

    assert first == second
    assert Schema.from_dict(first.to_dict()) == first
