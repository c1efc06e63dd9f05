"""Encoders fitted from category counts summed over parts equal those fitted on the whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import Preprocessor, categorical_from_counts, category_counts


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


def test_only_native_and_onehot_are_built_from_counts() -> None:
    with pytest.raises(ValidationError, match="'native' or 'onehot'; got 'target'"):
        categorical_from_counts("city", category_counts({"city": ["a"]}, "city"), encoding="target")
