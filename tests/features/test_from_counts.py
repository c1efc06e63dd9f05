"""Encoders fitted from category counts summed over parts equal those fitted on the whole."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import (
    Preprocessor,
    Target,
    TargetSums,
    as_table,
    categorical_from_counts,
    category_counts,
    prepare_target,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_of_parts_fit_the_encoder_of_the_whole(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.choice(
        ["a", "b", "c", None, 1.0, 2, "rare"], size=500, p=[0.3, 0.3, 0.2, 0.1, 0.05, 0.04, 0.01]
    )
    frame = pd.DataFrame({"city": values.astype(object)})
    schema = Schema((Column("city", ColumnKind.CATEGORICAL),))
    whole = Preprocessor(schema=schema, rare_min_frequency=0.02).fit(frame)
    counts = category_counts(frame.iloc[:200], "city") + category_counts(frame.iloc[200:], "city")
    built = categorical_from_counts("city", counts, min_count=whole.rare_min_count(len(frame)))
    assert built.to_dict() == whole.encoders_[0].to_dict()


def _cities(seed: int, rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.choice(
        ["a", "b", "c", None, 1.0, 2, "rare"], size=rows, p=[0.3, 0.3, 0.2, 0.1, 0.05, 0.04, 0.01]
    )
    return pd.DataFrame({"city": values.astype(object)})


@pytest.mark.parametrize("seed", [0, 1])
def test_count_encoding_from_the_counts_of_parts_is_the_whole_one(seed: int) -> None:
    frame = _cities(seed)
    schema = Schema((Column("city", ColumnKind.CATEGORICAL),))
    whole = Preprocessor(schema=schema, encoding="count").fit(frame)
    counts = category_counts(frame.iloc[:123], "city") + category_counts(frame.iloc[123:], "city")
    built = categorical_from_counts("city", counts, encoding="count", rows=len(frame))
    assert built.to_dict() == whole.encoders_[0].to_dict()
    assert built.to_dict()["table"][0] == [pytest.approx(np.mean(frame["city"].isna()))]


def test_only_native_onehot_and_count_are_built_from_counts() -> None:
    counts = category_counts({"city": ["a", "b"]}, "city")
    with pytest.raises(ValidationError, match="'native', 'onehot' or 'count'; got 'target'"):
        categorical_from_counts("city", counts, encoding="target")
    # the shares need the rows counted, and those cannot be fewer than the counts
    for rows in (None, 1):
        with pytest.raises(ValidationError, match="count encoding of column 'city' needs"):
            categorical_from_counts("city", counts, encoding="count", rows=rows)


def _target_sums(frame: pd.DataFrame, target: Target, folds: np.ndarray, n: int) -> TargetSums:
    """The sums of ``frame`` computed on three uneven parts, then merged."""
    cuts = [0, 7, 260, len(frame)]
    return TargetSums.merge([
        TargetSums.of(frame.iloc[a:b], "city", target.matrix[a:b], folds[a:b], n)
        for a, b in itertools.pairwise(cuts)
    ])  # fmt: skip


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_target_sums_of_parts_fit_the_whole_encoder_and_its_out_of_fold_rows(kind: str) -> None:
    rng = np.random.default_rng(3)
    frame = _cities(3, rows=600)
    if kind == "regression":
        y = pd.Series(rng.normal(size=len(frame)) + frame["city"].eq("a") * 2.0)
    else:
        labels = ["no", "yes"] if kind == "binary" else ["x", "y", "z"]
        y = pd.Series(rng.choice(labels, size=len(frame)))
    schema = Schema((Column("city", ColumnKind.CATEGORICAL),))
    whole = Preprocessor(schema=schema, encoding="target", target_smoothing=4.0).fit(frame, y)
    target = prepare_target(schema, y)
    n_folds = 4
    folds = rng.integers(0, n_folds, len(frame))
    sums = _target_sums(frame, target, folds, n_folds)
    encoder = sums.encoder("city", target.suffixes, smoothing=4.0)
    expected = whole.encoders_[0].to_dict()
    assert encoder.to_dict()["categories"] == expected["categories"]
    assert encoder.to_dict()["suffixes"] == expected["suffixes"]
    assert np.allclose(encoder.to_dict()["table"], expected["table"])
    # out of fold: what the local fit computes from the same folds, row by row
    split = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(n_folds)]
    codes = encoder.codes(as_table(frame))
    local = encoder.out_of_fold(codes, target, split, 4.0)
    tables = sums.out_of_fold(encoder, smoothing=4.0)
    assert tables.shape == (n_folds, encoder.n_codes, len(target.suffixes))
    assert np.allclose(tables[folds, codes], local)
    # a row's own target is not in its encoding: changing it leaves the row's value alone
    flipped = target.matrix.copy()
    flipped[0] = flipped[0] + 1.0
    moved = _target_sums(frame, Target(flipped, target.suffixes, None), folds, n_folds)
    assert np.allclose(
        moved.out_of_fold(encoder, 4.0)[folds[0], codes[0]], tables[folds[0], codes[0]]
    )
    assert not np.allclose(moved.encoder("city", target.suffixes, 4.0).to_dict()["table"],
                           encoder.to_dict()["table"])  # fmt: skip
