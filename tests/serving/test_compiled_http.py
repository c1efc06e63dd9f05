"""Models users bring (issue 17): log → register → promote → serve over HTTP → monitor.

A user's own scikit-learn pipeline (ColumnTransformer with passthrough, OrdinalEncoder
and OneHotEncoder, then LightGBM), a bare ``LGBMClassifier``, an XGBoost regressor and
a network in an ONNX file each go the whole way on a real uvicorn server. The three
libraries' models are compiled to ONNX when logged and served by onnxruntime; every
answer over HTTP must agree with the original model within the documented tolerance,
requests the graph was not checked on (a missing value) must still be answered by the
native path, and the prediction log must feed a monitoring pass.

The network is a scikit-learn ``MLPClassifier`` trained on the digits data set, its
weights written into an ONNX graph with the ``onnx`` helper API (what
``torch.onnx.export`` produces for the same two-layer network; the PyTorch version
is in docs/onnx.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from lightgbm import LGBMClassifier
from onnx import TensorProto, helper, numpy_helper
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

import modelcycle as mc
from modelcycle.monitoring import run_monitoring
from modelcycle.packaging import PROBABILITY_TOLERANCE, VALUE_TOLERANCE, OnnxModel
from modelcycle.serving import load_served
from tests.serving.conftest import logging_to, make_app, running


def users_frame(n: int, seed: int) -> pd.DataFrame:
    """Customers with numbers and two text columns; churn depends on age, plan and region."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 10, n).round(2),  # money: two decimals
            "plan": rng.choice(["a", "b", "c"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    churn = (frame.age > 50) ^ (frame.plan == "a") ^ (frame.region == "east")
    return frame.assign(churn=churn.astype(int))


def digits_network() -> tuple[bytes, pd.DataFrame, MLPClassifier]:
    """A two-layer network trained on digits, as an ONNX graph; its inputs; the original."""
    x, y = load_digits(return_X_y=True, as_frame=True)
    x = (x / 16.0).rename(columns=lambda name: name.replace("pixel_", "p"))
    net = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(x, y)
    weights = [
        numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)
        for name, array in [
            ("w1", net.coefs_[0]),
            ("b1", net.intercepts_[0]),
            ("w2", net.coefs_[1]),
            ("b2", net.intercepts_[1]),
        ]
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["z0"]),
        helper.make_node("Add", ["z0", "b2"], ["z1"]),
        helper.make_node("Softmax", ["z1"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", x.shape[1]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), x, net


@dataclass
class Brought:
    """The workspace, each model's inputs, and the original model objects."""

    ws: mc.Workspace
    inputs: dict[str, pd.DataFrame]
    originals: dict[str, Any]


NAMES = ("userpipe", "userlgbm", "userxgb", "usernet")


@pytest.fixture(scope="module")
def brought(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brought]:
    ws = mc.Workspace(tmp_path_factory.mktemp("brought") / "ws")
    frame = users_frame(1500, seed=3)
    x, y = frame.drop(columns="churn"), frame["churn"]
    encode = ColumnTransformer(
        [
            ("numbers", "passthrough", ["age", "income"]),
            ("plan", OrdinalEncoder(), ["plan"]),
            ("region", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )
    pipeline = Pipeline([("encode", encode), ("lgbm", LGBMClassifier(n_estimators=60, verbose=-1))])
    numeric = x[["age", "income"]]
    network, pixels, net = digits_network()
    originals: dict[str, Any] = {
        "userpipe": pipeline.fit(x, y),
        "userlgbm": LGBMClassifier(n_estimators=40, verbose=-1).fit(numeric, y),
        "userxgb": xgb.XGBRegressor(n_estimators=30, max_depth=4).fit(numeric, x.income * 2),
        "usernet": net,
    }
    inputs = {"userpipe": x, "userlgbm": numeric, "userxgb": numeric, "usernet": pixels}
    logged = {**originals, "usernet": OnnxModel(network, classes=tuple(range(10)))}
    samples = {name: inputs[name].head(100) for name in NAMES}
    samples["userpipe"] = x.head(100).assign(region=[None, *x.region[1:100]])  # may be missing
    for name in NAMES:
        with ws.start_run(experiment="brought", name=name) as run:
            run.log_dataset(inputs[name].assign(target=0), role="train", name=name)
            run.log_model(logged[name], signature=samples[name])
        ws.registry.register(run, name=name)
        ws.registry.promote(name, 1, force=True)
    yield Brought(ws, inputs, originals)
    ws.close()


def test_each_model_is_compiled_and_its_agreement_recorded(brought: Brought) -> None:
    for name in NAMES:
        loaded = brought.ws.registry.load(f"{name}/1")
        assert loaded.engine == "onnxruntime", (name, loaded.manifest.runtime)
        assert "model.onnx" in loaded.manifest.files
    for name in ("userpipe", "userlgbm", "userxgb"):
        runtime = brought.ws.registry.load(f"{name}/1").manifest.runtime
        agreement = runtime["agreement"]
        assert agreement["sample_rows"] == (99 if name == "userpipe" else 100)  # one has no region
        assert agreement["generated_rows"] > 0
        assert agreement["max_difference"] <= agreement["tolerance"]
    assert brought.ws.registry.load("usernet/1").flavor == "onnx"


def _original(
    brought: Brought, name: str, rows: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    model = brought.originals[name]
    if name == "userxgb":
        return model.predict(rows), None
    proba = model.predict_proba(rows)
    return model.classes_[proba.argmax(axis=1)], proba


@pytest.fixture(scope="module")
def server(
    brought: Brought, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    log_dir = tmp_path_factory.mktemp("brought-log") / "log"
    app = make_app(brought.ws, log_dir, models=NAMES, batch_window_ms=5)
    with running(app) as base:
        yield base, log_dir


@pytest.mark.parametrize("n_rows", [1, 1000])
@pytest.mark.parametrize("name", NAMES)
def test_served_answers_agree_with_the_original(
    brought: Brought, server: tuple[str, Path], name: str, n_rows: int
) -> None:
    rows = brought.inputs[name].sample(n_rows, replace=True, random_state=n_rows)
    labels, proba = _original(brought, name, rows)
    with httpx.Client(base_url=server[0], timeout=60) as http:
        answer = http.post(f"/v1/models/{name}/predict", json={"rows": rows.to_dict("records")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if proba is None:
        found = np.asarray(body["predictions"], dtype=np.float64)
        assert np.all(np.abs(found - labels) <= VALUE_TOLERANCE * np.maximum(1, np.abs(labels)))
    else:
        assert body["predictions"] == labels.tolist()
        assert np.abs(np.asarray(body["probabilities"]) - proba).max() <= PROBABILITY_TOLERANCE


def test_a_missing_text_value_is_answered_by_the_native_model(brought: Brought) -> None:
    served = load_served(brought.ws.registry, "userpipe", max_rows=100)
    assert served.engine == "onnxruntime"
    rows = [
        {"age": 30, "income": 40.0, "plan": "b", "region": None},
        {"age": 60, "income": 55.5, "plan": "a", "region": "east"},
    ]
    found = served.predict(rows)
    expected = brought.originals["userpipe"].predict_proba(pd.DataFrame(rows))
    assert found.probabilities is not None
    assert np.array_equal(found.probabilities, expected)  # the native path: exactly equal


def test_the_prediction_log_feeds_monitoring(brought: Brought, server: tuple[str, Path]) -> None:
    base, log_dir = server
    rows = brought.inputs["userpipe"].sample(300, random_state=5).to_dict("records")
    with httpx.Client(base_url=base, timeout=60) as http:
        for start in range(0, 300, 100):
            answer = http.post(
                "/v1/models/userpipe/predict", json={"rows": rows[start : start + 100]}
            )
            assert answer.status_code == 200, answer.text
    services = logging_to(brought.ws, log_dir)
    report = None
    for _ in range(100):
        report = run_monitoring(services, "userpipe", record=False).report
        if report.rows >= 300:
            break
        time.sleep(0.1)
    assert report is not None and report.rows >= 300
    assert (report.version, report.ref) == (1, "userpipe/1")
    # a model logged without ws.train has no training profile: the pass says so
    assert any("no training profile" in note for note in report.notes)
