"""ONNX files a user brings (exported from PyTorch, TensorFlow/Keras or anything else).

An ONNX file is data: a graph of standard operators that onnxruntime runs, never code
of the model's own (this is the safe way to serve a deep-learning model: nothing like
``torch.load`` of a pickle). The graph is checked when it is logged and again at every
load (:func:`modelcycle.packaging._onnx.check_onnx_bytes`): its inputs must match the
signature (one input per column, or one numeric matrix of every column), no tensor may
keep its data in an external file, and only the standard operator domains are run
unless the owner allowed a domain built into onnxruntime by name.

Outputs: a classifier (a signature with classes) reads the output called
``probabilities``, or else the first whose last dimension is the number of classes;
the predicted label is the class of highest probability. A regressor reads the first
output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import IntegrityError, ValidationError
from modelcycle.packaging._onnx import (
    ONNX_FILE,
    OnnxRunner,
    check_onnx_bytes,
    graph_problems,
    parse_graph,
)
from modelcycle.packaging._signature import Signature
from modelcycle.packaging.flavors._base import Flavor, Predictor


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX graph to log: a path to an ``.onnx`` file or its bytes.

    ``classes`` makes it a classifier (one probability column per class, in this
    order) when the signature is inferred from sample rows. ``allow_domains`` names
    operator domains beyond the standard ones that the graph may use; only domains
    built into onnxruntime (``com.microsoft``) can be allowed.

    Examples
    --------
    >>> OnnxModel("net.onnx", classes=(0, 1)).classes_
    [0, 1]
    """

    source: str | Path | bytes
    classes: tuple[Any, ...] | list[Any] | None = None
    allow_domains: tuple[str, ...] = ()

    @property
    def classes_(self) -> list[Any] | None:
        """The class labels, as scikit-learn names them (read to infer the signature)."""
        return list(self.classes) if self.classes is not None else None

    def read(self) -> bytes:
        """The file's bytes."""
        if isinstance(self.source, bytes):
            return self.source
        path = Path(self.source)
        if not path.is_file():
            raise ValidationError(f"ONNX file {str(path)!r} does not exist or is not a file")
        return path.read_bytes()


def _as_onnx_model(model: Any) -> OnnxModel:
    if isinstance(model, OnnxModel):
        return model
    if isinstance(model, str | Path):
        return OnnxModel(model)
    return OnnxModel(model.SerializeToString())  # an onnx.ModelProto


class _OnnxPredictor(Predictor):
    def __init__(self, runner: OnnxRunner, classes: tuple[Any, ...] | None) -> None:
        self.runner = runner
        self.classes = classes

    def _run(self, frame: pd.DataFrame) -> np.ndarray:
        columns = {
            name: frame[name].tolist() if frame[name].dtype == object else frame[name].to_numpy()
            for name in self.runner.signature.names
        }
        if not self.runner.feedable(columns):
            raise ValidationError(
                "this ONNX model needs a value in every text column; a text value is missing"
            )
        return self.runner.run(columns)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.classes is None:
            return self._run(frame).reshape(len(frame), -1)[:, 0].astype(np.float64)
        labels = np.asarray(self.classes, dtype=object)
        return np.asarray(labels[self.predict_proba(frame).argmax(axis=1)])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.classes is None:
            raise TypeError("this ONNX model is a regressor: it gives no class probabilities")
        return self._run(frame).astype(np.float64)


class OnnxFlavor(Flavor):
    """A graph in ONNX format (``model.onnx``), run by onnxruntime."""

    name = "onnx"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        if isinstance(model, OnnxModel):
            return True
        if isinstance(model, str | Path):
            return str(model).lower().endswith(".onnx")
        return type(model).__module__.startswith("onnx") and type(model).__name__ == "ModelProto"

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        given = _as_onnx_model(model)
        graph = parse_graph(given.read(), what="the ONNX model")
        problems = graph_problems(graph, given.allow_domains)
        if problems:
            raise ValidationError("the ONNX model is refused: " + "; ".join(problems))
        (folder / ONNX_FILE).write_bytes(graph.SerializeToString())
        return {
            "file": ONNX_FILE,
            "allowed_domains": sorted(given.allow_domains),
            "producer": f"{graph.producer_name} {graph.producer_version}".strip(),
            "opsets": {e.domain or "ai.onnx": e.version for e in graph.opset_import},
        }

    def complete(self, meta: dict[str, Any], folder: Path, signature: Signature) -> dict[str, Any]:
        """Check the saved graph against the signature; add its layout and output to ``meta``."""
        data = (folder / ONNX_FILE).read_bytes()
        try:
            layout = check_onnx_bytes(
                data, signature, meta["allowed_domains"], what="the ONNX model"
            )
        except IntegrityError as exc:
            raise ValidationError(exc.message) from None
        return {**meta, "layout": layout, "output": _output(data, signature)}

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        raise IntegrityError("an ONNX model is loaded with its signature (load_signed)")

    def load_signed(self, folder: Path, meta: dict[str, Any], signature: Signature) -> Predictor:
        """Check the graph again (the file is hostile until checked) and open its session."""
        allowed = meta.get("allowed_domains", [])
        if not isinstance(allowed, list) or not all(isinstance(d, str) for d in allowed):
            raise IntegrityError(f"the manifest's meta.allowed_domains is {allowed!r}")
        data = (folder / ONNX_FILE).read_bytes()
        layout = check_onnx_bytes(data, signature, allowed, what=f"ONNX file {ONNX_FILE!r}")
        output = _output(data, signature)
        classes = signature.classes if _is_classifier(signature) else None
        return _OnnxPredictor(OnnxRunner(data, signature, layout, output=output), classes)


def _is_classifier(signature: Signature) -> bool:
    return signature.classes is not None and (
        signature.task is None or signature.task.value != "regression"
    )


def _output(data: bytes, signature: Signature) -> int:
    """Which graph output holds the probabilities (classifiers) or values (regressors)."""
    outputs = list(parse_graph(data, what="the ONNX model").graph.output)
    if not outputs:
        raise IntegrityError("the ONNX model has no outputs")
    if not _is_classifier(signature):
        return 0
    names = [o.name for o in outputs]
    if "probabilities" in names:
        return names.index("probabilities")
    count = len(signature.classes or ())
    for index, output in enumerate(outputs):
        dims = output.type.tensor_type.shape.dim
        if dims and dims[-1].dim_value == count:
            return index
    raise ValidationError(
        f"the ONNX model's outputs {names} have none of {count} columns (one per class of "
        "the signature) and none is called 'probabilities'; export the class probabilities "
        "(apply softmax in the exported module)"
    )
