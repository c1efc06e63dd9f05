"""Merging partition summaries (no cluster needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelcycle.core import ColumnKind, Schema
from modelcycle.data import Profile, infer_schema
from modelcycle.distributed._dataset import holdout_mask, merge_profiles, merged_quantiles


def test_quantiles_of_parts_that_send_every_value_are_exact() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=n) for n in (50, 200, 7)]
    merged = merged_quantiles(parts, [len(p) for p in parts], [0.1, 0.5, 0.9])
    whole = np.concatenate(parts)
    ranks = (np.argsort(np.argsort(whole)) + 0.5) / whole.size
    expected = np.interp([0.1, 0.5, 0.9], np.sort(ranks), np.sort(whole))
    assert np.allclose(merged, expected)


def test_merged_profiles_count_and_average_like_one_profile() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"x": rng.normal(size=900), "c": rng.choice(list("abcde"), size=900), "y": rng.random(900)}
    )
    frame.loc[::17, "x"] = np.nan
    schema: Schema = infer_schema(frame, target="y")
    parts = [
        Profile.from_frame(frame.iloc[i : i + 300], schema, top_k=10**9) for i in (0, 300, 600)
    ]
    merged, whole = merge_profiles(parts, schema), Profile.from_frame(frame, schema)
    assert merged.rows == whole.rows
    for name in ("x", "c"):
        assert (merged[name].count, merged[name].missing) == (
            whole[name].count,
            whole[name].missing,
        )
    assert merged["c"].summary == whole["c"].summary
    x, expected = merged["x"].summary, whole["x"].summary
    assert np.isclose(x.mean, expected.mean) and np.isclose(x.std, expected.std)  # type: ignore[union-attr]
    assert merged["x"].kind is ColumnKind.NUMERIC


def test_the_split_is_by_row_content_and_seed() -> None:
    frame = pd.DataFrame({"x": np.arange(10_000.0), "y": ["a", "b"] * 5_000})
    mask = holdout_mask(frame, 0.2, seed=0)
    assert abs(mask.mean() - 0.2) < 0.02
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert (holdout_mask(shuffled, 0.2, seed=0) == mask[shuffled.index]).all()
    assert (holdout_mask(frame, 0.2, seed=1) != mask).any()
