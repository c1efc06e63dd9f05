"""Saving as data (JSON, never pickle) and reloading to bit-identical output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import Preprocessor

from .conftest import MIXED_SCHEMA

SCHEMA = Schema(
    (
        Column("num", ColumnKind.NUMERIC),
        Column("cnt", ColumnKind.INTEGER),
        Column("flag", ColumnKind.BOOLEAN),
        Column("cat", ColumnKind.CATEGORICAL),
        Column("when", ColumnKind.DATETIME),
        Column("txt", ColumnKind.TEXT),
    )
)
SEEN = ["a", "b", "c", "d", "e"]
UNSEEN = ["zz", "q", ""]
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "x"]


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


def columns(n_rows: int, categories: list[str]) -> st.SearchStrategy[dict[str, list[Any]]]:
    cell = {
        "num": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
        "cnt": maybe(st.integers(-(10**6), 10**6)),
        "flag": maybe(st.booleans()),
        "cat": maybe(st.sampled_from(categories)),
        "when": maybe(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))),
        "txt": maybe(st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join)),
    }
    return st.fixed_dictionaries(
        {name: st.lists(values, min_size=n_rows, max_size=n_rows) for name, values in cell.items()}
    )


@st.composite
def tables(draw: st.DrawFn, categories: list[str]) -> dict[str, list[Any]]:
    return draw(columns(draw(st.integers(1, 25)), categories))


def as_frame(data: dict[str, list[Any]]) -> pd.DataFrame:
    """A DataFrame with the dtypes pandas infers (float, str, datetime64 or object)."""
    return pd.DataFrame(data)


def as_rows(data: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(data)
    return [dict(zip(names, cells, strict=True)) for cells in zip(*data.values(), strict=True)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    train=tables(SEEN),
    fresh=tables(SEEN + UNSEEN),
    encoding=st.sampled_from(["native", "onehot", "target"]),
    scale=st.booleans(),
    rare=st.sampled_from([1, 2, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_reloaded_preprocessor_gives_bit_identical_output(
    train: dict[str, list[Any]],
    fresh: dict[str, list[Any]],
    encoding: str,
    scale: bool,
    rare: float,
    seed: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    y = np.random.default_rng(seed).normal(size=len(train["num"]))
    pre = Preprocessor(
        schema=SCHEMA, encoding=encoding, scale=scale, rare_min_frequency=rare, text_max_features=4
    )
    pre.fit(as_frame(train), y)
    reloaded = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict(), allow_nan=False)))
    path = pre.save(tmp_path_factory.mktemp("saved") / "preprocessor.json")
    loaded = Preprocessor.load(path)
    expected = pre.transform(as_frame(fresh))
    for other in (reloaded, loaded):
        assert other.feature_names_ == pre.feature_names_
        assert other.categorical_features_ == pre.categorical_features_
        assert other.transform(as_frame(fresh)).tobytes() == expected.tobytes()
        assert other.transform(as_rows(fresh)).tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    train=tables(SEEN), fresh=tables(SEEN + UNSEEN), encoding=st.sampled_from(["native", "onehot"])
)
def test_rows_columns_and_frame_agree_on_random_data(
    train: dict[str, list[Any]], fresh: dict[str, list[Any]], encoding: str
) -> None:
    pre = Preprocessor(schema=SCHEMA, encoding=encoding, scale=True, rare_min_frequency=2)
    pre.fit(as_frame(train))
    expected = pre.transform(as_frame(fresh))
    assert pre.transform(as_rows(fresh)).tobytes() == expected.tobytes()
    assert pre.transform(fresh).tobytes() == expected.tobytes()


def test_saved_form_is_plain_json_with_no_pickle(mixed: pd.DataFrame, tmp_path: Path) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding="target", scale=True).fit(mixed)
    path = pre.save(tmp_path / "pre.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == "modelcycle.features.Preprocessor"
    assert [e["kind"] for e in saved["encoders"]] == ["numeric", "categorical", "text"]
    assert Preprocessor.load(path).transform(mixed).tobytes() == pre.transform(mixed).tobytes()
    assert Preprocessor.load(path).get_params()["schema"] == MIXED_SCHEMA


def test_from_dict_refuses_other_formats_and_versions(mixed: pd.DataFrame, tmp_path: Path) -> None:
    saved = Preprocessor(schema=MIXED_SCHEMA).fit(mixed).to_dict()
    with pytest.raises(ValidationError, match="not a saved Preprocessor"):
        Preprocessor.from_dict({"format": "pickle"})
    with pytest.raises(ValidationError, match="format_version 99"):
        Preprocessor.from_dict({**saved, "format_version": 99})
    broken = {**saved, "encoders": [{"kind": "mystery"}]}
    with pytest.raises(ValidationError, match="encoder kind 'mystery'"):
        Preprocessor.from_dict(broken)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationError, match="cannot read a saved Preprocessor"):
        Preprocessor.load(tmp_path / "bad.json")


def test_unfitted_preprocessor_cannot_transform_or_save() -> None:
    pre = Preprocessor(schema=SCHEMA)
    with pytest.raises(ValidationError, match="not fitted"):
        pre.transform([{}])
    with pytest.raises(ValidationError, match="not fitted"):
        pre.to_dict()
