"""A served model version: loaded once (SHA-256 verified by the registry), warmed, immutable.

The fast path is the ``modelcycle`` flavor: its :class:`~modelcycle.packaging.ModelPipeline`
reads the validated rows or columns directly with NumPy — no DataFrame is built. Other
flavors (scikit-learn, LightGBM, XGBoost) are called through
:class:`~modelcycle.packaging.LoadedModel`, which builds a pandas DataFrame per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import ModelRef, Task
from modelcycle.packaging import InputSpec, LoadedModel, ModelPipeline, Signature
from modelcycle.registry import Registry
from modelcycle.serving._validate import InputValidator

#: Rows (list of dicts) or columns (dict of lists): the two request shapes.
Inputs = list[dict[str, Any]] | dict[str, list[Any]]


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

    @property
    def sensitive(self) -> frozenset[str]:
        """Input columns marked sensitive (hashed or dropped in the prediction log)."""
        return frozenset(spec.name for spec in self.signature.inputs if spec.sensitive)

    @property
    def is_classifier(self) -> bool:
        """Whether the model gives class probabilities."""
        return self.classes is not None and self.signature.task is not Task.REGRESSION

    def predict(self, inputs: Inputs) -> Prediction:
        """Predict already validated inputs (the pipeline reads them without pandas)."""
        model: ModelPipeline | LoadedModel = self.pipeline or self.loaded
        if not self.is_classifier:
            return Prediction(np.asarray(model.predict(inputs)), None)
        proba = np.asarray(model.predict_proba(inputs), dtype=np.float64)
        labels = np.asarray(self.classes, dtype=object)
        return Prediction(labels[proba.argmax(axis=1)], proba)


def pipeline_of(loaded: LoadedModel) -> ModelPipeline | None:
    """The pipeline inside a ``modelcycle``-flavor model, for the pandas-free fast path."""
    native = loaded.native
    return native if isinstance(native, ModelPipeline) else None


def load_served(registry: Registry, ref: ModelRef | str, *, max_rows: int) -> ServedModel:
    """Resolve, load (verifying every file) and warm one version with a sample prediction."""
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
