"""Layer 2: model packages — safe formats, signatures, manifests with SHA-256 of every file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.packaging._compile import (
    PROBABILITY_TOLERANCE,
    VALUE_TOLERANCE,
    describe_runtime,
)
from modelcycle.packaging._onnx import OnnxRunner
from modelcycle.packaging._package import (
    FORMAT,
    MANIFEST,
    LoadedModel,
    Manifest,
    load_model,
    package_versions,
    read_manifest,
    save_model,
    verify_package,
)
from modelcycle.packaging._signature import (
    InputSpec,
    Signature,
    as_frame,
    breaking_changes,
    conform,
    infer_signature,
)
from modelcycle.packaging.flavors import Flavor, Predictor, detect_flavor, get_flavor
from modelcycle.packaging.flavors._onnx import OnnxModel

__all__ = [
    "FORMAT",
    "MANIFEST",
    "PROBABILITY_TOLERANCE",
    "VALUE_TOLERANCE",
    "Flavor",
    "InputSpec",
    "LoadedModel",
    "Manifest",
    "Member",
    "ModelPipeline",
    "OnnxModel",
    "OnnxRunner",
    "Predictor",
    "Signature",
    "as_frame",
    "breaking_changes",
    "conform",
    "describe_runtime",
    "detect_flavor",
    "get_flavor",
    "infer_signature",
    "load_model",
    "package_versions",
    "read_manifest",
    "save_model",
    "verify_package",
]

if TYPE_CHECKING:
    from modelcycle.packaging._pipeline import Member, ModelPipeline


def __getattr__(name: str) -> Any:
    # The pipeline pulls in the learners (LightGBM, scikit-learn): load it on first use.
    if name in ("Member", "ModelPipeline"):
        from modelcycle.packaging import _pipeline

        return getattr(_pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
