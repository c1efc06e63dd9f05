"""The lightgbm flavor builds LightGBM's input matrix itself, as LightGBM would (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from lightgbm.basic import _data_from_pandas

from modelcycle.packaging import load_model, save_model
from modelcycle.packaging.flavors._lightgbm import _matrix

CATEGORIES = ("plan", "city")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 10, n),
            "plan": rng.choice(["a", "b", "c"], n),
            "city": rng.choice(["oslo", "rome", "lima", "kyiv"], n),
        }
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    frame = _frame(600, 0)
    target = ((frame.age > 50) ^ (frame.plan == "a") | (frame.city == "lima")).astype(int)
    typed = frame.astype(dict.fromkeys(CATEGORIES, "category"))
    model = lgb.LGBMClassifier(n_estimators=25, verbose=-1, random_state=0, n_jobs=1)
    model.fit(typed, target)
    folder = tmp_path_factory.mktemp("lgb") / "m"
    save_model(model, folder, signature=frame)
    return model, load_model(folder)


def _requests() -> pd.DataFrame:
    frame = _frame(50, 1)
    frame["income"] = frame["income"].astype(object)
    frame.loc[3, "income"] = None  # missing number
    frame["income"] = frame["income"].astype(np.float64)
    frame = frame.astype({"plan": object, "city": object})
    frame.loc[4, "plan"] = None  # missing category
    frame.loc[5, "city"] = "paris"  # never seen in training
    return frame


def test_the_matrix_is_the_one_lightgbm_builds(fitted: tuple[Any, Any]) -> None:
    _, loaded = fitted
    booster = loaded.predictor.booster
    frame = _requests()
    ours = _matrix(frame, list(CATEGORIES), booster.pandas_categorical)
    assert ours is not None
    typed = frame.astype(dict.fromkeys(CATEGORIES, "category"))
    theirs = _data_from_pandas(typed, "auto", "auto", booster.pandas_categorical)[0]
    assert theirs.dtype == ours.dtype == np.float64
    np.testing.assert_array_equal(ours, theirs)  # NaN where missing or unseen
    assert np.isnan(ours[4, 2]) and np.isnan(ours[5, 3]) and np.isnan(ours[3, 1])


def test_predictions_equal_the_models_own(fitted: tuple[Any, Any]) -> None:
    model, loaded = fitted
    frame = _requests()  # with missing and unseen values, as a checked frame may hold
    typed = frame.astype(dict.fromkeys(CATEGORIES, "category"))
    np.testing.assert_array_equal(loaded.predictor.predict_proba(frame), model.predict_proba(typed))
    clean = _frame(30, 3)  # what the signature accepts, through LoadedModel's checks
    expected = model.predict_proba(clean.astype(dict.fromkeys(CATEGORIES, "category")))
    rows = clean.to_dict("records")
    np.testing.assert_array_equal(loaded.predict_proba(rows), expected)
    np.testing.assert_array_equal(loaded.predict_proba(rows[:1]), expected[:1])


def test_other_column_types_are_left_to_lightgbm(fitted: tuple[Any, Any], tmp_path: Path) -> None:
    model, loaded = fitted
    frame = _requests().astype({"income": np.float32})
    assert _matrix(frame, list(CATEGORIES), loaded.predictor.booster.pandas_categorical) is None
    typed = frame.astype(dict.fromkeys(CATEGORIES, "category"))
    np.testing.assert_array_equal(loaded.predictor.predict_proba(frame), model.predict_proba(typed))
    numeric = _frame(200, 2)[["age", "income"]]
    plain = lgb.LGBMRegressor(n_estimators=10, verbose=-1, random_state=0, n_jobs=1)
    plain.fit(numeric, numeric.age * 2.0)
    save_model(plain, tmp_path / "plain", signature=numeric)
    again = load_model(tmp_path / "plain")
    assert _matrix(numeric, [], []) is not None
    np.testing.assert_array_equal(again.predict(numeric), plain.predict(numeric))
