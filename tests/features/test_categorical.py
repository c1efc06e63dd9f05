"""Categorical columns: native codes, one-hot with "other", smoothed target means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import Preprocessor

from .conftest import MALES_CATEGORICALS

COLOR = Schema((Column("color", ColumnKind.CATEGORICAL),))
COLORS = pd.DataFrame({"color": ["red"] * 6 + ["blue"] * 3 + ["green"] + [None] * 2})


def test_native_codes_sorted_categories_and_nan_for_missing_and_unseen() -> None:
    pre = Preprocessor(schema=COLOR, rare_min_frequency=1).fit(COLORS)
    assert pre.feature_names_ == ["color"]
    assert pre.categorical_features_ == [0]
    out = pre.transform({"color": ["blue", "green", "red", None, "purple", np.nan]})
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, 2.0, np.nan, np.nan, np.nan])


def test_native_folds_rare_categories_and_sends_unseen_ones_to_other() -> None:
    pre = Preprocessor(schema=COLOR, rare_min_frequency=2).fit(COLORS)
    out = pre.transform({"color": ["blue", "red", "green", "purple", None]})
    # green (seen once) and the unseen purple share "other", code 2.
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, 2.0, 2.0, np.nan])


def test_rare_min_frequency_as_a_share_of_rows() -> None:
    pre = Preprocessor(schema=COLOR, encoding="onehot", rare_min_frequency=0.2).fit(COLORS)
    # 12 rows: 20% is 2.4, so a category needs 3 rows: blue and red are kept.
    assert pre.feature_names_ == ["color=blue", "color=red", "color=<other>"]


def test_onehot_columns_other_column_and_zeros_for_missing() -> None:
    pre = Preprocessor(schema=COLOR, encoding="onehot", rare_min_frequency=2).fit(COLORS)
    assert pre.feature_names_ == ["color=blue", "color=red", "color=<other>"]
    assert pre.categorical_features_ == []
    out = pre.transform([{"color": c} for c in ("red", "blue", "green", "purple", None)])
    expected = [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]]
    np.testing.assert_array_equal(out, expected)


def test_onehot_without_rare_categories_sends_unseen_to_all_zeros() -> None:
    pre = Preprocessor(schema=COLOR, encoding="onehot", rare_min_frequency=1).fit(COLORS)
    assert pre.feature_names_ == ["color=blue", "color=green", "color=red"]
    assert pre.transform([{"color": "purple"}]).tolist() == [[0.0, 0.0, 0.0]]


def test_max_onehot_keeps_the_most_frequent_categories() -> None:
    pre = Preprocessor(schema=COLOR, encoding="onehot", rare_min_frequency=1, max_onehot=1)
    pre.fit(COLORS)
    assert pre.feature_names_ == ["color=red", "color=<other>"]


def test_integer_and_float_spellings_of_a_category_agree() -> None:
    schema = Schema((Column("grade", ColumnKind.CATEGORICAL),))
    pre = Preprocessor(schema=schema, rare_min_frequency=1).fit(pd.DataFrame({"grade": [1, 2, 3]}))
    out = pre.transform({"grade": [1, 2.0, "3", np.int64(2), 2.5, True]})
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, 2.0, 1.0, np.nan, np.nan])


def test_unhashable_category_is_a_validation_error() -> None:
    pre = Preprocessor(schema=COLOR, rare_min_frequency=1).fit(COLORS)
    with pytest.raises(ValidationError, match=r"column 'color', row 1: got \['red'\] \(list\)"):
        pre.transform([{"color": "red"}, {"color": ["red"]}])


def test_target_encoding_is_the_smoothed_mean() -> None:
    frame = pd.DataFrame({"color": ["a", "a", "a", "b", None], "y": [1.0, 2.0, 3.0, 10.0, 4.0]})
    schema = Schema((Column("color", ColumnKind.CATEGORICAL), Column("y", ColumnKind.NUMERIC)), "y")
    pre = Preprocessor(schema=schema, encoding="target", target_smoothing=2.0).fit(frame)
    assert pre.feature_names_ == ["color__target"]
    prior = 4.0
    out = pre.transform({"color": ["a", "b", None, "unseen"]})[:, 0]
    expected = [(6 + 2 * prior) / 5, (10 + 2 * prior) / 3, (4 + 2 * prior) / 3, prior]
    np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_target_encoding_of_a_multiclass_target_has_a_column_per_class() -> None:
    frame = pd.DataFrame({"color": ["a", "a", "b", "b"], "kind": ["x", "y", "z", "z"]})
    schema = Schema(
        (Column("color", ColumnKind.CATEGORICAL), Column("kind", ColumnKind.CATEGORICAL)), "kind"
    )
    pre = Preprocessor(schema=schema, encoding="target", target_smoothing=0.0).fit(frame)
    assert pre.feature_names_ == ["color__target_x", "color__target_y", "color__target_z"]
    np.testing.assert_allclose(pre.transform({"color": ["a", "b"]}), [[0.5, 0.5, 0], [0, 0, 1]])


def test_target_encoding_needs_a_target() -> None:
    with pytest.raises(ValidationError, match="needs the target"):
        Preprocessor(schema=COLOR, encoding="target").fit(COLORS)


def test_out_of_fold_target_encoding_does_not_leak() -> None:
    """An identifier-like category predicts a random target perfectly in-sample only."""
    rng = np.random.default_rng(3)
    n_rows = 2000
    frame = pd.DataFrame({"code": [f"c{i // 2}" for i in range(n_rows)]})  # 2 rows per code
    y = rng.normal(size=n_rows)
    schema = Schema((Column("code", ColumnKind.CATEGORICAL),))
    pre = Preprocessor(schema=schema, encoding="target", target_smoothing=1.0, random_state=0)
    out_of_fold = pre.fit_transform(frame, y)[:, 0]
    in_sample = pre.transform(frame)[:, 0]
    assert np.corrcoef(in_sample, y)[0, 1] > 0.5
    assert abs(np.corrcoef(out_of_fold, y)[0, 1]) < 0.1


def test_out_of_fold_values_come_only_from_the_other_folds() -> None:
    frame = pd.DataFrame({"color": list("aabbab" * 5)})
    y = np.arange(30, dtype=np.float64)
    schema = Schema((Column("color", ColumnKind.CATEGORICAL),))
    pre = Preprocessor(schema=schema, encoding="target", target_folds=3, random_state=1)
    encoded = pre.fit_transform(frame, y)[:, 0]
    from sklearn.model_selection import KFold

    for train, held_out in KFold(3, shuffle=True, random_state=1).split(frame):
        prior = y[train].mean()
        for row in held_out:
            same = train[frame["color"].to_numpy()[train] == frame["color"][row]]
            expected = (y[same].sum() + 10.0 * prior) / (len(same) + 10.0)
            assert encoded[row] == pytest.approx(expected, rel=1e-14)
    # transform after fit uses all rows, not the folds.
    assert not np.allclose(pre.transform(frame)[:, 0], encoded)


def test_classification_out_of_fold_is_stratified_and_deterministic(males, males_schema) -> None:
    schema = Schema(males_schema.columns, target="union")
    first = Preprocessor(schema=schema, encoding="target", random_state=5).fit_transform(males)
    again = Preprocessor(schema=schema, encoding="target", random_state=5).fit_transform(males)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (len(males), 10)  # union is the target, wage a feature now


@pytest.mark.parametrize("encoding", ["native", "onehot", "target"])
def test_males_every_encoding(males, males_schema, encoding: str) -> None:
    pre = Preprocessor(schema=males_schema, encoding=encoding, random_state=0)
    out = pre.fit_transform(males)
    assert out.dtype == np.float64
    assert out.shape == (len(males), len(pre.feature_names_))
    assert "nr" not in pre.feature_names_in_ and "wage" not in pre.feature_names_in_
    if encoding == "native":
        assert [pre.feature_names_[i] for i in pre.categorical_features_] == list(
            MALES_CATEGORICALS
        )
        residence = pre.feature_names_.index("residence")
        assert np.isnan(out[:, residence]).sum() == males["residence"].isna().sum()
    elif encoding == "onehot":
        assert "industry=Agricultural" in pre.feature_names_
        assert not np.isnan(out).any()
        blocks = [n for n in pre.feature_names_ if n.startswith("ethn=")]
        assert out[:, [pre.feature_names_.index(n) for n in blocks]].sum(axis=1).tolist() == [
            1.0
        ] * len(males)
    else:
        assert not np.isnan(out).any()
        union = pre.feature_names_.index("union__target")
        assert len(np.unique(pre.transform(males)[:, union])) == 2  # one mean per category
        assert len(np.unique(out[:, union])) > 2  # out-of-fold: one per category and fold


def test_count_encoding_is_each_levels_share_of_the_rows() -> None:
    pre = Preprocessor(schema=COLOR, encoding="count").fit(COLORS)
    assert pre.feature_names_ == ["color__count"] and pre.categorical_features_ == []
    out = pre.transform({"color": ["red", "blue", "green", None, "purple"]})[:, 0]
    np.testing.assert_allclose(out, [6 / 12, 3 / 12, 1 / 12, 2 / 12, 0.0])
    again = Preprocessor.from_dict(pre.to_dict()).transform({"color": ["green", "purple"]})
    np.testing.assert_array_equal(again[:, 0], [1 / 12, 0.0])


def test_column_encodings_override_per_column_and_drop_columns() -> None:
    schema = Schema(
        (
            Column("color", ColumnKind.CATEGORICAL),
            Column("shop", ColumnKind.CATEGORICAL),
            Column("size", ColumnKind.CATEGORICAL),
        )
    )
    frame = COLORS.assign(shop=list("abcabcabcabc"), size=list("SMLSMLSMLSML"))
    pre = Preprocessor(
        schema=schema, rare_min_frequency=1, column_encodings={"shop": "count", "size": "drop"}
    ).fit(frame)
    assert pre.feature_names_ == ["color", "shop__count"]
    assert pre.feature_names_in_ == ["color", "shop"] and pre.categorical_features_ == [0]
    loaded = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))
    # Without overrides the saved form does not mention them.
    assert "column_encodings" not in Preprocessor(schema=COLOR).fit(COLORS).to_dict()["params"]


@pytest.mark.parametrize(
    ("column_encodings", "message"),
    [
        ({"colour": "count"}, "names 'colour', which is not a categorical feature"),
        ({"color": "hash"}, r"column_encodings\['color'\] must be one of"),
        (["color"], "must be a dict of column to encoding"),
    ],
)
def test_column_encodings_are_checked(column_encodings: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Preprocessor(schema=COLOR, column_encodings=column_encodings).fit(COLORS)


def test_target_codes_encode_a_fold_as_a_preprocessor_fitted_on_its_training_rows() -> None:
    """What the AutoML search scores a validation fold with: only the fold's training rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": rng.choice([f"c{i}" for i in range(40)] + [None], size=600)})
    y = rng.normal(size=600)
    schema = Schema((Column("code", ColumnKind.CATEGORICAL),))
    pre = Preprocessor(schema=schema, encoding="target", random_state=0).fit(frame, y)
    (block,) = pre.target_codes(frame, y)
    train, valid = np.arange(450), np.arange(450, 600)
    encoded_train, encoded_valid = block.encode(
        train, valid, smoothing=10.0, folds=5, random_state=0
    )
    on_train = Preprocessor(schema=schema, encoding="target").fit(frame.iloc[train], y[train])
    np.testing.assert_allclose(encoded_valid, on_train.transform(frame.iloc[valid]), rtol=1e-12)
    assert encoded_train.shape == (450, 1)
    # The validation rows' own targets play no part.
    changed = y.copy()
    changed[valid] += 100.0
    (moved,) = pre.target_codes(frame, changed)
    np.testing.assert_array_equal(
        moved.encode(train, valid, smoothing=10.0, folds=5, random_state=0)[1], encoded_valid
    )
    assert Preprocessor(schema=schema).fit(frame).target_codes(frame) == []
