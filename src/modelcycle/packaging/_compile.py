"""Compiling a logged model to ONNX, and proving the compiled graph answers as the original.

A scikit-learn pipeline predicting one row spends milliseconds in Python; the same
pipeline as an ONNX graph run by onnxruntime takes tens of microseconds. When a model
is saved, :func:`compile_package` converts it (``skl2onnx``, with ``onnxmltools``'
converters for LightGBM and XGBoost), runs both on the signature's sample and on rows
generated from the signature, and keeps the graph only if they agree:

* classifiers: the same label for every row (the class of highest probability) and
  every probability within :data:`PROBABILITY_TOLERANCE` (absolute);
* regressors: every value within :data:`VALUE_TOLERANCE` × max(1, |value|).

ONNX computes in float32 where scikit-learn and LightGBM use float64, hence a bound
rather than equality. Rows with missing numbers are checked apart: when the original
refuses them or the graph disagrees on them, such requests keep the native path.

Compilation never breaks logging: a model that cannot be converted, or whose graph
disagrees, is stored as before and served natively, and the manifest's ``runtime``
says why (the converter's own message).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import Task
from modelcycle.packaging._onnx import ONNX_FILE, OnnxRunner
from modelcycle.packaging._signature import InputSpec, Signature
from modelcycle.packaging.flavors import Flavor, Predictor

#: Largest absolute difference accepted between a compiled and an original probability.
PROBABILITY_TOLERANCE = 1e-4
#: Largest difference accepted between values, relative to max(1, |original value|).
VALUE_TOLERANCE = 1e-4
#: Rows generated from the signature, besides the sample, to compare the two on.
GENERATED_ROWS = 256
_COMPILED_FLAVORS = ("sklearn", "lightgbm", "xgboost")
_NUMERIC = ("double", "long", "boolean")
_OPSETS = {"": 17, "ai.onnx.ml": 3}


class NotCompiled(Exception):
    """Why a model is served by its native path (a sentence for the CLI and the card)."""


def native(reason: str) -> dict[str, Any]:
    """The runtime record of a model served by its own library."""
    return {"engine": "native", "reason": reason}


def describe_runtime(runtime: Mapping[str, Any]) -> str:
    """One sentence: which runtime serves a version, and the measured agreement or the reason.

    Examples
    --------
    >>> describe_runtime({"engine": "native", "reason": "the 'modelcycle' flavor is not compiled"})
    "native (not compiled: the 'modelcycle' flavor is not compiled)"
    """
    if runtime.get("engine") != "onnxruntime":
        reason = runtime.get("reason")
        return f"native (not compiled: {reason})" if reason else "native"
    agreement = runtime.get("agreement")
    if not isinstance(agreement, Mapping):
        return f"onnxruntime ({runtime.get('reason') or 'an ONNX model'})"
    same = "the same labels, " if agreement.get("labels_equal") else ""
    missing = "" if agreement.get("missing_values") else "; rows with missing values: native"
    return (
        f"onnxruntime (compiled; agrees with the original on {agreement.get('rows')} rows: "
        f"{same}{agreement.get('compared')} within {agreement.get('max_difference'):.2g} "
        f"(bound {agreement.get('tolerance'):g}){missing})"
    )


def compile_package(
    flavor: Flavor,
    model: Any,
    folder: Path,
    meta: dict[str, Any],
    signature: Signature,
    sample: pd.DataFrame | None,
) -> dict[str, Any]:
    """Try to compile ``model`` into ``folder/model.onnx``; return the manifest's runtime record.

    Never raises for a model that cannot compile: the record then says why.
    """
    try:
        return _compile(flavor, model, folder, meta, signature, sample)
    except NotCompiled as exc:
        reason = str(exc)
    except Exception as exc:  # a converter or runtime failure must never break logging
        reason = f"compiling to ONNX failed: {type(exc).__name__}: {_short(str(exc))}"
    (folder / ONNX_FILE).unlink(missing_ok=True)
    return native(reason)


def _compile(
    flavor: Flavor,
    model: Any,
    folder: Path,
    meta: dict[str, Any],
    signature: Signature,
    sample: pd.DataFrame | None,
) -> dict[str, Any]:
    if flavor.name not in _COMPILED_FLAVORS:
        raise NotCompiled(f"the {flavor.name!r} flavor is not compiled to ONNX")
    kinds = {spec.type for spec in signature.inputs}
    if "datetime" in kinds:
        raise NotCompiled("ONNX has no date-time inputs; the signature has datetime columns")
    data, layout, output = _convert(model, flavor.name, signature)
    runner = OnnxRunner(data, signature, layout, output=output)
    checked = _agreement(flavor.load(folder, meta), runner, signature, sample)
    (folder / ONNX_FILE).write_bytes(data)
    return {
        "engine": "onnxruntime",
        "file": ONNX_FILE,
        "layout": layout,
        "output": output,
        "converter": _converter_versions(),
        "agreement": checked,
    }


def _converter_versions() -> str:
    found = []
    for name in ("skl2onnx", "onnxmltools", "onnxruntime"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _convert(model: Any, flavor: str, signature: Signature) -> tuple[bytes, str, int]:
    """The serialized graph, its input layout and the index of the output to read."""
    numeric = all(spec.type in _NUMERIC for spec in signature.inputs)
    if flavor in ("lightgbm", "xgboost"):
        if not hasattr(model, "get_params"):
            raise NotCompiled(
                f"a bare {flavor} Booster is not compiled; log its scikit-learn wrapper "
                "(LGBMClassifier, XGBRegressor...) to have it compiled"
            )
        if not numeric:
            raise NotCompiled(
                f"a bare {flavor} model with text columns reads them as categories, "
                "which ONNX converters do not; wrap it in a scikit-learn Pipeline with an "
                "OrdinalEncoder to have it compiled"
            )
    if flavor == "xgboost":  # its converter wants features named f0, f1, ...
        model = copy.deepcopy(model)
        model.get_booster().feature_names = None
    messages = []
    for layout in ("matrix", "columns") if numeric else ("columns",):
        try:
            graph = _to_onnx(model, signature, layout)
        except Exception as exc:  # every converter has its own errors
            messages.append(f"{type(exc).__name__}: {_short(str(exc))}")
            continue
        outputs = [o.name for o in graph.graph.output]
        output = outputs.index("probabilities") if "probabilities" in outputs else 0
        return graph.SerializeToString(), layout, output
    raise NotCompiled("the ONNX converter refused it: " + " / ".join(dict.fromkeys(messages)))


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _to_onnx(model: Any, signature: Signature, layout: str) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_converters()
    if layout == "matrix":
        types: list[tuple[str, Any]] = [("input", FloatTensorType([None, len(signature.inputs)]))]
    else:
        types = [
            (
                s.name,
                StringTensorType([None, 1]) if s.type == "string" else FloatTensorType([None, 1]),
            )
            for s in signature.inputs
        ]
    options = {id(model): {"zipmap": False}} if hasattr(model, "classes_") else None
    return convert_sklearn(model, initial_types=types, options=options, target_opset=_OPSETS)


@cache
def _register_converters() -> None:
    """Teach skl2onnx the LightGBM and XGBoost estimators (onnxmltools' converters)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    import lightgbm as lgb
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    update_registered_converter(
        lgb.LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options=classifier_options,
    )
    update_registered_converter(
        lgb.LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )
    try:
        import xgboost as xgb
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    except ImportError:  # XGBoost is optional
        return
    update_registered_converter(
        xgb.XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        convert_xgboost,
        options=classifier_options,
    )
    update_registered_converter(
        xgb.XGBRegressor,
        "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes,
        convert_xgboost,
    )


# -- agreement -------------------------------------------------------------------------


def _agreement(
    predictor: Predictor, runner: OnnxRunner, signature: Signature, sample: pd.DataFrame | None
) -> dict[str, Any]:
    """Compare both on the sample and generated rows; raise :class:`NotCompiled` if they differ."""
    rng = np.random.default_rng(0)
    generated = _generate(signature, sample, rng, GENERATED_ROWS)
    if sample is not None:  # rows with a missing text value are always answered natively
        text = [s.name for s in signature.inputs if s.type == "string"]
        sample = sample.dropna(subset=text) if text else sample
    sample_columns = _columns(sample, signature) if sample is not None and len(sample) else None
    rows = _concat(sample_columns, generated) if sample_columns is not None else generated
    n_sample = len(sample) if sample_columns is not None and sample is not None else 0
    classifier = _is_classifier(predictor, signature)
    found = _compare(predictor, runner, rows, classifier)
    if found["problem"]:
        raise NotCompiled(f"the compiled graph disagrees with the original: {found['problem']}")
    missing = _with_missing(signature, generated, rng)
    missing_ok = False
    if missing is not None:
        try:
            on_missing = _compare(predictor, runner, missing, classifier)
        except Exception:  # the original refuses missing values: they keep its path
            on_missing = {"problem": "refused"}
        missing_ok = not on_missing["problem"]
    n_rows = len(next(iter(rows.values())))
    return {
        "rows": n_rows,
        "sample_rows": n_sample,
        "generated_rows": n_rows - n_sample,
        "labels_equal": True if classifier else None,
        "max_difference": found["difference"],
        "compared": "probabilities" if classifier else "values",
        "tolerance": PROBABILITY_TOLERANCE if classifier else VALUE_TOLERANCE,
        "missing_values": missing_ok,
    }


def _is_classifier(predictor: Predictor, signature: Signature) -> bool:
    return signature.task is not Task.REGRESSION and (
        predictor.classes is not None or signature.classes is not None
    )


def _compare(
    predictor: Predictor, runner: OnnxRunner, columns: dict[str, Any], classifier: bool
) -> dict[str, Any]:
    frame = pd.DataFrame(columns, copy=False)
    compiled = runner.run(columns).astype(np.float64)
    if classifier:
        original = np.asarray(predictor.predict_proba(frame), dtype=np.float64)
        if compiled.shape != original.shape:
            return {"problem": f"probabilities of shape {compiled.shape}, not {original.shape}"}
        flips = int((compiled.argmax(axis=1) != original.argmax(axis=1)).sum())
        difference = float(np.abs(compiled - original).max(initial=0.0))
        if flips:
            return {"problem": f"{flips} row(s) get another label"}
        if not difference <= PROBABILITY_TOLERANCE:
            return {"problem": f"a probability differs by {difference:.3g}"}
        return {"problem": None, "difference": difference}
    original = np.asarray(predictor.predict(frame), dtype=np.float64).reshape(-1)
    compiled = compiled.reshape(-1)
    if compiled.shape != original.shape:
        return {"problem": f"{compiled.shape[0]} values for {original.shape[0]} rows"}
    relative = np.abs(compiled - original) / np.maximum(1.0, np.abs(original))
    difference = float(relative.max(initial=0.0))
    if not difference <= VALUE_TOLERANCE:
        return {"problem": f"a value differs by {difference:.3g} (relative)"}
    return {"problem": None, "difference": difference}


def _columns(frame: pd.DataFrame, signature: Signature) -> dict[str, Any]:
    """A sample as the server's validated columns: numbers as arrays, text as lists."""
    columns: dict[str, Any] = {}
    for spec in signature.inputs:
        values = frame[spec.name]
        if spec.type in _NUMERIC:
            columns[spec.name] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            columns[spec.name] = [None if pd.isna(v) else str(v) for v in values]
    return columns


def _concat(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: np.concatenate([first[name], second[name]])
        if isinstance(first[name], np.ndarray)
        else [*first[name], *second[name]]
        for name in first
    }


def _generate(
    signature: Signature, sample: pd.DataFrame | None, rng: np.random.Generator, n: int
) -> dict[str, Any]:
    """Rows drawn from the signature: numbers across the sample's range, allowed categories."""
    return {spec.name: _draw(spec, sample, rng, n) for spec in signature.inputs}


def _draw(spec: InputSpec, sample: pd.DataFrame | None, rng: np.random.Generator, n: int) -> Any:
    seen = sample[spec.name].dropna() if sample is not None else pd.Series([], dtype=object)
    if spec.type == "boolean":
        return rng.integers(0, 2, n).astype(np.float64)
    if spec.type in _NUMERIC:
        numbers = pd.to_numeric(seen, errors="coerce").dropna().to_numpy(dtype=np.float64)
        low, high = (numbers.min(), numbers.max()) if numbers.size else (-3.0, 3.0)
        drawn = rng.uniform(low, high, n)
        return np.round(drawn) if spec.type == "long" else drawn
    choices = list(spec.categories or seen.astype(str).unique())
    if not choices:
        raise NotCompiled(
            f"text column {spec.name!r} has neither categories nor sample values to check "
            "the compiled graph with; log the model with signature=<sample rows>"
        )
    return [choices[i] for i in rng.integers(0, len(choices), n)]


def _with_missing(
    signature: Signature, generated: Mapping[str, Any], rng: np.random.Generator
) -> dict[str, Any] | None:
    """The generated rows with a quarter of each nullable number missing (None if none are)."""
    nullable = [s.name for s in signature.inputs if s.nullable and s.type in _NUMERIC]
    if not nullable:
        return None
    rows = dict(generated)
    for name in nullable:
        values = np.array(rows[name], dtype=np.float64)
        values[rng.random(values.size) < 0.25] = np.nan
        rows[name] = values
    return rows
