"""The estimator contract, parameter checks, column selection and dtypes of the frame."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import Preprocessor

from .conftest import MIXED_SCHEMA


def test_constructor_only_stores_and_fit_returns_self(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding="bogus")  # type: ignore[arg-type]
    assert pre.get_params()["encoding"] == "bogus"  # checked at fit, not here
    pre = Preprocessor(schema=MIXED_SCHEMA, scale=True, random_state=3)
    assert pre.fit(mixed) is pre
    twin = clone(pre)
    assert twin.get_params() == pre.get_params()
    assert not hasattr(twin, "feature_names_")
    assert twin.fit(mixed).transform(mixed).tobytes() == pre.transform(mixed).tobytes()


def test_learned_attributes(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA).fit(mixed)
    assert pre.feature_names_in_ == ["amount", "count", "member", "color", "seen", "note"]
    assert pre.feature_names_[:6] == [
        "amount",
        "count",
        "member",
        "seen__year",
        "seen__month",
        "seen__day",
    ]
    assert "amount__missing" in pre.feature_names_ and "count__missing" not in pre.feature_names_
    assert list(pre.get_feature_names_out()) == pre.feature_names_
    assert pre.n_features_out_ == len(pre.feature_names_)
    assert [pre.feature_names_[i] for i in pre.categorical_features_] == ["color"]


def test_identifier_constant_dropped_and_target_columns_are_left_out() -> None:
    schema = Schema(
        (
            Column("id", ColumnKind.IDENTIFIER),
            Column("same", ColumnKind.CONSTANT),
            Column("old", ColumnKind.NUMERIC, dropped=True, note="leaks the target"),
            Column("x", ColumnKind.NUMERIC),
            Column("y", ColumnKind.NUMERIC),
        ),
        target="y",
    )
    frame = pd.DataFrame({"id": [1, 2], "same": [0, 0], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    pre = Preprocessor(schema=schema).fit(frame)
    assert pre.feature_names_in_ == ["x"]
    assert pre.feature_names_ == ["x"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"encoding": "ordinal"}, "encoding must be one of"),
        ({"rare_min_frequency": 0}, "rare_min_frequency must be"),
        ({"rare_min_frequency": 1.5}, "rare_min_frequency must be"),
        ({"rare_min_frequency": True}, "rare_min_frequency must be"),
        ({"max_onehot": 0}, "max_onehot must be an int >= 1"),
        ({"text_max_features": 2.5}, "text_max_features must be an int >= 1"),
        ({"target_folds": 1}, "target_folds must be an int >= 2"),
        ({"target_smoothing": -1.0}, "target_smoothing must be"),
        ({"schema": {"columns": []}}, "schema must be a modelcycle.core.Schema"),
    ],
)
def test_bad_parameters_are_reported_at_fit(
    mixed: pd.DataFrame, params: dict[str, object], message: str
) -> None:
    pre = Preprocessor(**{"schema": MIXED_SCHEMA, **params})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=message):
        pre.fit(mixed)


def test_fit_needs_a_frame_with_every_feature(mixed: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"lacks the feature columns \['color', 'note'\]"):
        Preprocessor(schema=MIXED_SCHEMA).fit(mixed.drop(columns=["color", "note"]))
    with pytest.raises(ValidationError, match="fit expects a pandas DataFrame; got a list"):
        Preprocessor(schema=MIXED_SCHEMA).fit(mixed.to_dict("records"))  # type: ignore[arg-type]


def test_target_length_and_missing_target_values_are_checked(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding="target")
    with pytest.raises(ValidationError, match="y has 3 values but the frame has 400 rows"):
        pre.fit(mixed, [1, 2, 3])
    with pytest.raises(ValidationError, match="target 'label' has 1 missing"):
        pre.fit(mixed.assign(label=[None, *mixed["label"][1:]]))


def test_frame_dtypes_category_nullable_and_decimal() -> None:
    schema = Schema(
        (
            Column("color", ColumnKind.CATEGORICAL),
            Column("n", ColumnKind.INTEGER),
            Column("price", ColumnKind.NUMERIC),
            Column("ok", ColumnKind.BOOLEAN),
        )
    )
    frame = pd.DataFrame(
        {
            "color": pd.Categorical(["red", "blue", None, "red"]),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "price": pd.Series([Decimal("1.50"), None, Decimal("2"), Decimal("3")], dtype=object),
            "ok": pd.array([True, False, None, True], dtype="boolean"),
        }
    )
    pre = Preprocessor(schema=schema, rare_min_frequency=1).fit(frame)
    expected = pre.transform(frame)
    rows = [
        {"color": "red", "n": 1, "price": 1.5, "ok": True},
        {"color": "blue", "n": None, "price": None, "ok": False},
        {"color": None, "n": 3, "price": 2.0, "ok": None},
        {"color": "red", "n": 4, "price": 3.0, "ok": True},
    ]
    assert pre.transform(rows).tobytes() == expected.tobytes()
    as_strings = frame.assign(color=frame["color"].astype("string"))
    assert pre.transform(as_strings).tobytes() == expected.tobytes()
    assert not np.isnan(expected[:, :-1]).any()  # only the missing color is NaN
