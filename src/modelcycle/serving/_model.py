"""A served model version: loaded once (SHA-256 verified by the registry), warmed, immutable.

A compiled model (a scikit-learn, LightGBM or XGBoost model the registry stored with
an ONNX graph that agrees with it) and an ``onnx``-flavor model are answered by their
onnxruntime session, fed from the validated columns without pandas; requests the graph
was not checked on (a missing text value, or a missing number when the original refused
them) fall back to the native path below.

The other fast path is the ``modelcycle`` flavor: its :class:`~modelcycle.packaging.ModelPipeline`
reads the validated rows or columns directly with NumPy — no DataFrame is built. Other
flavors (scikit-learn, LightGBM, XGBoost) need a pandas DataFrame per request: built in
one go from the validated columns (with their NumPy dtypes) and handed to the flavor's
predictor, since the validator checked them already; only inputs the column checks
cannot clear (a NaN in a text field, say) go through
:class:`~modelcycle.packaging.LoadedModel`, which builds and checks the DataFrame itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import ModelRef, Task
from modelcycle.packaging import InputSpec, LoadedModel, ModelPipeline, OnnxRunner, Signature
from modelcycle.registry import Registry
from modelcycle.serving._columnar import Columns
from modelcycle.serving._validate import InputValidator

#: Rows (list of dicts) or columns (dict of lists): the two request shapes.
Inputs = list[dict[str, Any]] | dict[str, list[Any]]
#: What a model predicts: a request as sent, or its validated columns.
ModelInputs = Inputs | Columns


def as_rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Columns (equal-length lists, already validated) as row dicts."""
    names = list(columns)
    return [dict(zip(names, cells, strict=True)) for cells in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class Prediction:
    """What a model answered for one request."""

    predictions: NDArray[Any]
    probabilities: NDArray[np.float64] | None


@dataclass(frozen=True)
class ServedModel:
    """One loaded, warmed version, with the validator built from its signature."""

    name: str
    version: int
    flavor: str
    signature: Signature
    classes: tuple[Any, ...] | None
    validator: InputValidator
    loaded: LoadedModel
    pipeline: ModelPipeline | None
    compiled: OnnxRunner | None = None

    @cached_property
    def _numbers(self) -> tuple[str, ...]:
        """Numeric columns whose missing values the compiled graph was not checked on."""
        runtime = self.loaded.manifest.runtime
        if self.flavor == "onnx" or (runtime.get("agreement") or {}).get("missing_values"):
            return ()
        return tuple(s.name for s in self.signature.inputs if s.type != "string" and s.nullable)

    @property
    def engine(self) -> str:
        """The runtime answering requests: ``"onnxruntime"`` or ``"native"``."""
        return "onnxruntime" if self.compiled is not None else "native"

    @cached_property
    def sensitive(self) -> frozenset[str]:
        """Input columns marked sensitive (hashed or dropped in the prediction log)."""
        return frozenset(spec.name for spec in self.signature.inputs if spec.sensitive)

    @property
    def is_classifier(self) -> bool:
        """Whether the model gives class probabilities."""
        return self.classes is not None and self.signature.task is not Task.REGRESSION

    def predict(self, inputs: ModelInputs) -> Prediction:
        """Predict already validated inputs.

        The pipeline reads rows or columns without pandas. Another flavor's predictor
        gets one DataFrame built from the checked columns with their NumPy dtypes;
        inputs the column checks cannot clear go through :class:`LoadedModel`, which
        builds and checks the DataFrame itself.
        """
        if self.compiled is not None:
            found = self._compiled(inputs, self.compiled)
            if found is not None:
                return found
        model, data = self._reader(inputs)
        if not self.is_classifier:
            return Prediction(np.asarray(model.predict(data)), None)
        proba = np.asarray(model.predict_proba(data), dtype=np.float64)
        labels = np.asarray(self.classes, dtype=object)
        return Prediction(labels[proba.argmax(axis=1)], proba)

    def _compiled(self, inputs: ModelInputs, runner: OnnxRunner) -> Prediction | None:
        """The graph's answer, or ``None`` when these inputs need the native path."""
        columns = inputs if isinstance(inputs, Columns) else self.validator.as_columns(inputs)
        if columns is None or not runner.feedable(columns.values):
            return None
        if any(_has_missing(columns.values[name]) for name in self._numbers):
            return None
        output = runner.run(columns.values)
        if not self.is_classifier:
            return Prediction(output.reshape(-1).astype(np.float64), None)
        proba = output.astype(np.float64, copy=False)
        labels = np.asarray(self.classes, dtype=object)
        return Prediction(labels[proba.argmax(axis=1)], proba)

    def _reader(self, inputs: ModelInputs) -> tuple[Any, Any]:
        """What predicts ``inputs`` and what it reads."""
        if self.pipeline is not None:
            return self.pipeline, inputs.values if isinstance(inputs, Columns) else inputs
        columns = inputs if isinstance(inputs, Columns) else self.validator.as_columns(inputs)
        if columns is None:
            return self.loaded, inputs
        return self.loaded.predictor, pd.DataFrame(columns.values, copy=False)


def _has_missing(column: Any) -> bool:
    if isinstance(column, np.ndarray):
        return column.dtype.kind == "f" and bool(np.isnan(column).any())
    return None in column


def pipeline_of(loaded: LoadedModel) -> ModelPipeline | None:
    """The pipeline inside a ``modelcycle``-flavor model, for the pandas-free fast path."""
    native = loaded.native
    return native if isinstance(native, ModelPipeline) else None


def load_served(
    registry: Registry, ref: ModelRef | str, *, max_rows: int, onnx_threads: int = 1
) -> ServedModel:
    """Resolve, load (verifying every file) and warm one version with a sample prediction.

    A compiled version gets a session of its own with ``onnx_threads`` intra-op threads.
    """
    version = registry.resolve(ref)
    loaded = registry.load(f"{version.name}/{version.version}")
    served = ServedModel(
        name=version.name,
        version=version.version,
        flavor=loaded.flavor,
        signature=loaded.signature,
        classes=loaded.classes,
        validator=InputValidator(loaded.signature, max_rows=max_rows),
        loaded=loaded,
        pipeline=pipeline_of(loaded),
        compiled=loaded.compiled.with_threads(onnx_threads) if loaded.compiled else None,
    )
    served.predict([warmup_row(served.signature)])
    return served


def warmup_row(signature: Signature) -> dict[str, Any]:
    """A valid row for a signature: the first warm-up prediction (and OIP metadata example)."""
    return {spec.name: _sample(spec) for spec in signature.inputs}


def _sample(spec: InputSpec) -> Any:
    if spec.categories:
        return spec.categories[0]
    return {
        "double": 0.0,
        "long": 0,
        "boolean": False,
        "string": "",
        "datetime": "2000-01-01T00:00:00",
    }[spec.type]
