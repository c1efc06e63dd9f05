"""AutoML behaves like a scikit-learn estimator and takes polars frames (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer

from modelcycle.automl import AutoML
from modelcycle.core import ValidationError


def test_get_params_set_params_and_clone() -> None:
    automl = AutoML(budget=7, learners=["linear"], random_state=3)
    assert automl.get_params()["budget"] == 7
    assert automl.set_params(random_state=5) is automl and automl.random_state == 5
    copy = clone(automl)
    assert copy is not automl and copy.get_params() == automl.get_params()
    assert "budget=7" in repr(automl)


def test_fit_x_y_equals_fit_frame_target() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    options = {"budget": 3, "learners": ["linear"], "ensemble": False}
    by_xy = AutoML(**options).fit(X, y)
    by_name = AutoML(**options).fit(X.assign(target=y), "target")
    assert by_xy.classes_ == by_name.classes_ == [0, 1]
    np.testing.assert_allclose(by_xy.predict_proba(X.head(20)), by_name.predict_proba(X.head(20)))
    board = by_xy.leaderboard_frame()
    assert isinstance(board, pd.DataFrame) and list(board["trial"]) == [
        row["trial"] for row in by_xy.leaderboard_
    ]


def test_fit_accepts_polars_and_numpy_targets() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    automl = AutoML(budget=3, learners=["linear"], ensemble=False)
    automl.fit(pl.from_pandas(X), pl.Series("malignant", y.to_numpy()))
    assert automl.schema_.target == "malignant"
    automl.fit(pl.from_pandas(X), y.to_numpy())
    assert automl.schema_.target == "target"


def test_fit_names_mismatched_and_colliding_targets() -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with pytest.raises(ValidationError, match="569 rows in X and 10 values in y"):
        AutoML(budget=3).fit(X, y[:10])
    with pytest.raises(ValidationError, match="also a column of X"):
        AutoML(budget=3).fit(X, X["mean radius"])
    with pytest.raises(ValidationError, match="expected a pandas or polars DataFrame"):
        AutoML(budget=3).fit(pl.from_pandas(X).lazy(), y)
