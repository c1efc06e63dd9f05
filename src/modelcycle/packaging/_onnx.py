"""ONNX graphs: checking a hostile file, and running it with onnxruntime from columns.

An ONNX file is data, not code: it is a protocol-buffer graph of operators that
onnxruntime implements. Two things in a graph could still reach beyond it, and both
are refused here, whoever wrote the file: tensors whose data lives in *external*
files (a path that could name any file on the server) and operators of a custom
domain (which need a shared library of native code). Operator domains that
onnxruntime implements itself (``com.microsoft``) are accepted only when the person
logging the model allows them by name; the allowed list is recorded in the manifest
and checked again at every load.

:class:`OnnxRunner` feeds a session from validated columns (NumPy arrays and lists,
no DataFrame): one graph input per signature column (``columns`` layout, for
pipelines that read columns by name) or one float matrix of every column
(``matrix`` layout, for bare estimators and boosters).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import IntegrityError, ValidationError
from modelcycle.packaging._signature import Signature

#: The file a compiled model or an ``onnx``-flavor model is stored in.
ONNX_FILE = "model.onnx"
#: Operator domains every onnxruntime implements: always allowed.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
#: Domains implemented inside onnxruntime itself, which a user may allow by name.
BUILT_IN_DOMAINS = frozenset({"com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental"})
LAYOUTS = ("columns", "matrix")
_MAX_ONNX_BYTES = 2 << 30

_ELEMENT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def parse_graph(data: bytes, *, what: str) -> Any:
    """The ``onnx.ModelProto`` in ``data``; :class:`ValidationError` naming ``what`` if not."""
    import onnx

    if len(data) > _MAX_ONNX_BYTES:
        raise ValidationError(f"{what} is larger than {_MAX_ONNX_BYTES} bytes")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValidationError(f"{what} is not an ONNX model: {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise ValidationError(f"{what} is not an ONNX model: its graph is empty")
    return model


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph of its nodes (the branches of If, bodies of Loop/Scan)."""
    import onnx

    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for inner in attribute.graphs:
                    yield from _graphs(inner)


def graph_problems(model: Any, allowed: Sequence[str] = ()) -> list[str]:
    """What makes ``model`` unsafe or unservable here (empty when none).

    ``allowed`` names the extra operator domains the owner accepted; only domains
    built into onnxruntime can be allowed.
    """
    import onnx

    problems: list[str] = []
    beyond = sorted(set(allowed) - BUILT_IN_DOMAINS)
    if beyond:
        problems.append(
            f"operator domain(s) {beyond} cannot be allowed: only domains built into "
            f"onnxruntime ({sorted(BUILT_IN_DOMAINS)}) run without loading native code"
        )
    accepted = STANDARD_DOMAINS | set(allowed)
    domains: set[str] = set()
    external: list[str] = []
    for graph in _graphs(model.graph):
        domains.update(node.domain for node in graph.node)
        external.extend(
            t.name for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
        )
    for function in model.functions:
        domains.update(node.domain for node in function.node)
    domains -= {function.domain for function in model.functions}
    domains.update(entry.domain for entry in model.opset_import)
    refused = sorted(domains - accepted)
    if refused:
        problems.append(
            f"the graph uses operator domain(s) {refused}, which need native code outside "
            "onnxruntime; only the standard domains are served"
            + (
                f" (allow {sorted(set(refused) & BUILT_IN_DOMAINS)} explicitly to accept them)"
                if set(refused) & BUILT_IN_DOMAINS
                else ""
            )
        )
    if external:
        problems.append(
            f"tensor(s) {external[:5]} keep their data in external files; a model package "
            "holds the whole graph in model.onnx (save it with save_as_external_data=False)"
        )
    return problems


def input_problems(model: Any, signature: Signature) -> tuple[str | None, list[str]]:
    """The layout the graph's inputs follow for ``signature``, or what does not match."""
    names = signature.names
    inputs = list(_real_inputs(model))
    found = [i.name for i in inputs]
    if found == names or (set(found) == set(names) and len(found) == len(names)):
        wrong = [
            f"{spec.name!r} is {spec.type} but the graph reads {_elem(inputs, spec.name)}"
            for spec in signature.inputs
            if not _fits(spec.type, _elem(inputs, spec.name))
        ]
        return ("columns", []) if not wrong else (None, wrong)
    if len(inputs) == 1:
        shape = inputs[0].type.tensor_type.shape.dim
        width = shape[-1].dim_value if len(shape) == 2 else None
        kind = _elem(inputs, inputs[0].name)
        numeric = all(spec.type in ("double", "long", "boolean") for spec in signature.inputs)
        if width == len(names) and numeric and kind in _NUMERIC_KINDS:
            return "matrix", []
        if width == len(names):
            return None, [
                f"the graph reads one {kind} matrix but the signature has non-numeric columns"
            ]
    return None, [
        f"the graph's inputs are {found} (with shapes {[_shape(i) for i in inputs]}); the "
        f"signature has {names}: expected one input per column with the same names, or one "
        f"input of shape [N, {len(names)}]"
    ]


_NUMERIC_KINDS = ("tensor(float)", "tensor(double)", "tensor(int64)", "tensor(int32)")


def _real_inputs(model: Any) -> Iterator[Any]:
    """Graph inputs that are fed (older exporters also list initializers as inputs)."""
    constants = {t.name for t in model.graph.initializer}
    return (i for i in model.graph.input if i.name not in constants)


def _elem(inputs: list[Any], name: str) -> str:
    import onnx

    found = next(i for i in inputs if i.name == name)
    code = found.type.tensor_type.elem_type
    return (
        f"tensor({onnx.helper.tensor_dtype_to_string(code).removeprefix('TensorProto.').lower()})"
    )


def _shape(value: Any) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def _fits(kind: str, element: str) -> bool:
    if kind == "string":
        return element == "tensor(string)"
    return element in (*_NUMERIC_KINDS, "tensor(bool)")


class OnnxRunner:
    """One ``InferenceSession`` and how to feed it from validated columns.

    ``output`` is the index of the graph output read: class probabilities for a
    classifier (one column per class, in the signature's class order), values for a
    regressor. ``threads`` is onnxruntime's intra-operator thread count.
    """

    def __init__(
        self, data: bytes, signature: Signature, layout: str, *, output: int, threads: int = 1
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.data = data
        self.signature = signature
        self.layout = layout
        self.output = output
        self.threads = threads
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._inputs = [
            (i.name, _ELEMENT_TYPES.get(i.type), len(i.shape)) for i in self.session.get_inputs()
        ]
        self._output_name = self.session.get_outputs()[output].name
        self._strings = frozenset(s.name for s in signature.inputs if s.type == "string")

    def with_threads(self, threads: int) -> OnnxRunner:
        """The same graph in a session of its own using ``threads`` intra-op threads."""
        if threads == self.threads:
            return self
        return OnnxRunner(
            self.data, self.signature, self.layout, output=self.output, threads=threads
        )

    def feedable(self, columns: Mapping[str, Any]) -> bool:
        """Whether ``columns`` can be fed: a text column holding a missing value cannot."""
        return not any(None in columns[name] for name in self._strings)

    def run(self, columns: Mapping[str, Any]) -> NDArray[Any]:
        """The chosen output for validated ``columns`` (every signature column, equal lengths)."""
        found = self.session.run([self._output_name], self._feed(columns))[0]
        return np.asarray(found)

    def _feed(self, columns: Mapping[str, Any]) -> dict[str, NDArray[Any]]:
        if self.layout == "matrix":
            name, kind, _ = self._inputs[0]
            matrix = np.column_stack(
                [_numbers(columns[n], kind or np.float32) for n in self.signature.names]
            )
            return {name: matrix}
        feed = {}
        for name, kind, rank in self._inputs:
            values = columns[name]
            array = (
                np.asarray(values, dtype=object)
                if kind is np.object_
                else _numbers(values, kind or np.float32)
            )
            feed[name] = array.reshape(-1, 1) if rank == 2 else array.reshape(-1)
        return feed


def _numbers(values: Any, kind: Any) -> NDArray[Any]:
    """A column as ``kind`` (float: missing as NaN)."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.astype(kind, copy=False)
    floats = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return floats.astype(kind, copy=False)


def check_onnx_bytes(
    data: bytes, signature: Signature, allowed: Sequence[str], *, what: str
) -> str:
    """Parse and check a graph against its signature; return its input layout.

    Raises :class:`IntegrityError` listing every problem: the file is then never run.
    """
    try:
        model = parse_graph(data, what=what)
    except ValidationError as exc:
        raise IntegrityError(exc.message) from None
    problems = graph_problems(model, allowed)
    layout, mismatch = input_problems(model, signature)
    problems += mismatch
    if problems or layout is None:
        raise IntegrityError(f"{what} is refused: " + "; ".join(problems))
    return layout
