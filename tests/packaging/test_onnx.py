"""Compiling to ONNX at saving time, and ONNX files as a flavor of their own (issue 17).

Compilation is checked for what it records (the runtime, the agreement) and for never
breaking a save: a model no converter knows, a graph that disagrees with its original,
a bare booster, ``compile_onnx=False``. An ONNX file is hostile input: a custom
operator domain, a domain built into onnxruntime that was not allowed, external
tensor data, inputs that do not match the signature, garbage bytes, and a package
whose graph and manifest were both rewritten (hashes and all) are each refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.compose import ColumnTransformer
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from modelcycle.core import IntegrityError, Task, ValidationError
from modelcycle.packaging import (
    PROBABILITY_TOLERANCE,
    InputSpec,
    OnnxModel,
    Signature,
    load_model,
    read_manifest,
    save_model,
)

NUMBERS = Signature(
    (InputSpec("a", "double"), InputSpec("b", "double")), Task.BINARY, ("no", "yes")
)


def frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50, 10, n).round(2),
            "plan": rng.choice(["a", "b", "c"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )


def test_a_pipeline_of_encoders_is_compiled_and_agrees(tmp_path: Path) -> None:
    x = frame()
    y = ((x.age > 50) ^ (x.plan == "a")).astype(int)
    encode = ColumnTransformer(
        [
            ("n", "passthrough", ["age", "income"]),
            ("o", OrdinalEncoder(), ["plan"]),
            ("h", OneHotEncoder(), ["region"]),
        ]
    )
    model = Pipeline([("e", encode), ("m", LogisticRegression(max_iter=500))]).fit(x, y)
    manifest = save_model(model, tmp_path / "m", signature=x.head(40))
    runtime = manifest.runtime
    assert runtime["engine"] == "onnxruntime" and runtime["layout"] == "columns"
    assert runtime["agreement"]["labels_equal"] is True
    assert runtime["agreement"]["max_difference"] <= PROBABILITY_TOLERANCE
    assert runtime["agreement"]["rows"] == 40 + runtime["agreement"]["generated_rows"]
    loaded = load_model(tmp_path / "m")
    assert loaded.engine == "onnxruntime" and loaded.compiled is not None
    columns = {
        "age": x.age.to_numpy(np.float64),
        "income": x.income.to_numpy(),
        "plan": x.plan.tolist(),
        "region": x.region.tolist(),
    }
    compiled = loaded.compiled.run(columns)
    assert np.abs(compiled - model.predict_proba(x)).max() <= PROBABILITY_TOLERANCE


def _native(tmp_path: Path, model: Any, sample: Any, **how: Any) -> str:
    manifest = save_model(model, tmp_path / "m", signature=sample, **how)
    assert manifest.runtime["engine"] == "native" and "model.onnx" not in manifest.files
    assert load_model(tmp_path / "m").engine == "native"
    return str(manifest.runtime["reason"])


def test_a_model_no_converter_knows_is_saved_and_says_why(tmp_path: Path) -> None:
    x = frame()[["age", "income"]]
    reason = _native(tmp_path, KernelRidge().fit(x, x.income), x)
    assert "converter refused it" in reason and "KernelRidge" in reason


def test_a_graph_that_disagrees_with_its_original_is_not_kept(tmp_path: Path) -> None:
    # float32 cannot tell these inputs apart; the float64 original can
    x = pd.DataFrame({"x": 1 + np.linspace(0, 1e-6, 100)})
    reason = _native(tmp_path, LinearRegression().fit(x, 1e8 * (x.x - 1)), x)
    assert "disagrees with the original" in reason and "relative" in reason


def test_a_bare_booster_and_turned_off_compilation_say_why(tmp_path: Path) -> None:
    x = frame()[["age", "income"]]
    booster = lgb.train({"verbose": -1}, lgb.Dataset(x, x.income), 5)
    assert "bare lightgbm Booster" in _native(tmp_path / "1", booster, x)
    model = LinearRegression().fit(x, x.income)
    assert "turned off" in _native(tmp_path / "2", model, x, compile_onnx=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"engine": "rocket"}, "runtime.engine"),
        ({"file": "other.onnx"}, "runtime.file"),
        ({"layout": "rows"}, "runtime.layout"),
        ({"output": -1}, "runtime.output"),
    ],
)
def test_a_tampered_runtime_record_refuses_the_load(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    x = frame()[["age", "income"]]
    save_model(LinearRegression().fit(x, x.income), tmp_path / "m", signature=x)
    path = tmp_path / "m" / "manifest.json"
    raw = json.loads(path.read_text())
    raw["runtime"].update(change)
    path.write_text(json.dumps(raw))
    with pytest.raises(IntegrityError, match=message):
        load_model(tmp_path / "m")


# -- the onnx flavor ----------------------------------------------------------------


def logistic_graph(domain: str = "", *, external: bool = False, name: str = "input") -> bytes:
    """p(yes) = sigmoid(a - 2b + 0.5), as two probability columns; optionally hostile."""
    weights = numpy_helper.from_array(np.array([[1.0], [-2.0]], dtype=np.float32), "w")
    if external:
        weights.data_location = TensorProto.EXTERNAL
        entry = weights.external_data.add()
        entry.key, entry.value = "location", "../../etc/passwd"
    bias = numpy_helper.from_array(np.array([0.5], dtype=np.float32), "bias")
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")
    nodes = [
        helper.make_node("MatMul", [name, "w"], ["z0"]),
        helper.make_node("Add", ["z0", "bias"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["p"], domain=domain),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "logistic",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [weights, bias, one],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def _expected(rows: pd.DataFrame) -> np.ndarray:
    p = 1 / (1 + np.exp(-(rows.a - 2 * rows.b + 0.5)))
    return np.column_stack([1 - p, p])


def test_an_onnx_file_is_saved_checked_and_served(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    path.write_bytes(logistic_graph())
    manifest = save_model(path, tmp_path / "m", signature=NUMBERS)
    assert manifest.flavor == "onnx" and set(manifest.files) == {"model.onnx"}
    assert manifest.runtime["engine"] == "onnxruntime" and manifest.meta["layout"] == "matrix"
    loaded = load_model(tmp_path / "m")
    rows = pd.DataFrame({"a": [1.0, 0.0, -1.0], "b": [0.0, 2.0, -1.0]})
    assert np.allclose(loaded.predict_proba(rows), _expected(rows), atol=1e-6)
    assert loaded.predict(rows).tolist() == ["yes", "no", "yes"]


def test_onnx_classes_come_from_the_model_when_the_signature_is_sampled(tmp_path: Path) -> None:
    sample = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]})
    manifest = save_model(
        OnnxModel(logistic_graph(), classes=(0, 1)), tmp_path / "m", signature=sample
    )
    assert manifest.signature.classes == (0, 1) and manifest.signature.task is Task.BINARY


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (OnnxModel(logistic_graph("evil.ops")), r"domain\(s\) \['evil.ops'\]"),
        (OnnxModel(logistic_graph("com.microsoft")), "allow .*'com.microsoft'.* explicitly"),
        (OnnxModel(logistic_graph("evil.ops"), allow_domains=("evil.ops",)), "cannot be allowed"),
        (OnnxModel(logistic_graph(external=True)), "external files"),
        (OnnxModel(b"\x08\x07garbage"), "not an ONNX model"),
        (OnnxModel(logistic_graph(name="pixels")), r"inputs are \['pixels'\]"),
        (OnnxModel(Path("/nonexistent/net.onnx")), "does not exist"),
    ],
)
def test_hostile_or_mismatched_onnx_files_are_refused(
    tmp_path: Path, model: OnnxModel, message: str
) -> None:
    signature = NUMBERS
    if "pixels" in message:  # a graph reading one matrix of the wrong width
        signature = Signature((InputSpec("a", "double"),), Task.BINARY, ("no", "yes"))
    with pytest.raises(ValidationError, match=message):
        save_model(model, tmp_path / "m", signature=signature)
    assert not (tmp_path / "m" / "manifest.json").exists()


def test_a_built_in_domain_allowed_by_name_is_accepted(tmp_path: Path) -> None:
    model = OnnxModel(logistic_graph("com.microsoft"), allow_domains=("com.microsoft",))
    manifest = save_model(model, tmp_path / "m", signature=NUMBERS)
    assert manifest.meta["allowed_domains"] == ["com.microsoft"]


def _rehash(folder: Path, name: str, data: bytes, meta: dict[str, Any]) -> None:
    """Rewrite a package file and its manifest consistently (an attacker with write access)."""
    (folder / name).write_bytes(data)
    raw = json.loads((folder / "manifest.json").read_text())
    raw["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    raw["meta"].update(meta)
    (folder / "manifest.json").write_text(json.dumps(raw))


def test_a_rewritten_package_cannot_smuggle_a_custom_domain(tmp_path: Path) -> None:
    save_model(OnnxModel(logistic_graph()), tmp_path / "m", signature=NUMBERS)
    _rehash(
        tmp_path / "m", "model.onnx", logistic_graph("evil.ops"), {"allowed_domains": ["evil.ops"]}
    )
    with pytest.raises(IntegrityError, match="cannot be allowed"):
        load_model(tmp_path / "m")
    _rehash(tmp_path / "m", "model.onnx", logistic_graph("evil.ops"), {"allowed_domains": []})
    with pytest.raises(IntegrityError, match=r"evil\.ops"):
        load_model(tmp_path / "m")


def test_a_compiled_graph_swapped_for_a_hostile_one_is_refused(tmp_path: Path) -> None:
    x = pd.DataFrame({"a": np.linspace(0, 1, 50), "b": np.linspace(1, 3, 50)})
    save_model(LogisticRegression().fit(x, x.a > 0.5), tmp_path / "m", signature=x)
    assert read_manifest(tmp_path / "m").runtime["engine"] == "onnxruntime"
    _rehash(tmp_path / "m", "model.onnx", logistic_graph("com.microsoft"), {})
    with pytest.raises(IntegrityError, match=r"com\.microsoft"):
        load_model(tmp_path / "m")
