"""Request shapes of other servers, converted to rows or columns for the one service.

* Open Inference Protocol V2 (KServe, Triton, MLServer): one tensor per input column
  (or a single ``[rows, columns]`` tensor in signature order), in the JSON or in the
  binary tensor data extension (:mod:`modelcycle.serving._v2_binary`); the outputs
  asked for, each in JSON or binary.
* MLflow's ``/invocations``: ``dataframe_split``, ``dataframe_records``, ``instances``
  and ``inputs``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from modelcycle.core import ValidationError
from modelcycle.packaging import Signature
from modelcycle.serving._encode import plain, quoted, shown_text
from modelcycle.serving._model import Inputs, ServedModel
from modelcycle.serving._schemas import Rows
from modelcycle.serving._service import Answer
from modelcycle.serving._v2_binary import BinaryReader, binary_size, decode_tensor, encode_tensor

#: Signature input type -> V2 tensor datatype.
V2_TYPES = {
    "double": "FP64",
    "long": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
}


#: The tensor datatypes of the Open Inference Protocol V2.
V2Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
#: One dimension of a request's tensor: a whole number of values (a boolean is not one).
Dimension = Annotated[StrictInt, Field(ge=0, le=2**31)]


class V2Tensor(BaseModel):
    """One named tensor: its shape, datatype and row-major data (as many values as the
    shape holds), in ``data`` or, with ``parameters.binary_data_size``, after the JSON."""

    name: str
    shape: list[Dimension] = Field(min_length=1, max_length=8)
    datatype: V2Datatype
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class V2RequestedOutput(BaseModel):
    """An output the client asks for; ``parameters.binary_data`` asks for it in binary."""

    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    """An Open Inference Protocol V2 inference request.

    ``parameters.binary_data_output`` asks for every output in binary; ``outputs`` names
    the outputs wanted (default: all), each with its own ``binary_data``.
    """

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[V2RequestedOutput] | None = None


#: Tensor parameters of extensions this server does not implement.
_UNSUPPORTED = {
    "shared_memory_region": "the shared-memory extension",
    "classification": "the classification extension",
}


def _flat(values: list[Any]) -> list[Any]:
    if values and isinstance(values[0], list):
        return [cell for row in values for cell in (row if isinstance(row, list) else [row])]
    return values


def _sized(tensor: V2Tensor, values: list[Any]) -> list[Any]:
    """The tensor's values, flattened; :class:`ValidationError` when they do not fill its shape."""
    data = _flat(values)
    if len(data) != math.prod(tensor.shape):
        raise ValidationError(
            f"tensor {quoted(tensor.name, 60)} has shape {tensor.shape}, which holds "
            f"{math.prod(tensor.shape)} values, but {len(data)} were sent; expected as many "
            "values as the shape holds",
            details={"field": shown_text(tensor.name, 60), "expected": tensor.shape},
        )
    return data


def _refuse_unsupported(what: str, name: str, parameters: dict[str, Any] | None) -> None:
    for key, extension in _UNSUPPORTED.items():
        if key in (parameters or {}):
            raise ValidationError(
                f"{what} {quoted(name, 60)} asks for {extension} ({key!r}), which this server "
                "does not implement; send the data in the request (JSON or binary) instead",
                details={"field": shown_text(name, 60), "parameter": key},
            )


def _values(tensor: V2Tensor, reader: BinaryReader) -> list[Any]:
    """A tensor's values, flattened: from its JSON ``data`` or its binary bytes."""
    _refuse_unsupported("tensor", tensor.name, tensor.parameters)
    size = binary_size(tensor.name, tensor.parameters)
    if size is not None and tensor.data is not None:
        raise ValidationError(
            f"tensor {quoted(tensor.name, 60)} has both 'data' and a binary_data_size; "
            "expected its values in one place",
            details={"field": shown_text(tensor.name, 60)},
        )
    if size is not None:
        data = reader.take(tensor.name, size)
        return decode_tensor(tensor.name, tensor.datatype, tensor.shape, data)
    if tensor.data is None:
        raise ValidationError(
            f"tensor {quoted(tensor.name, 60)} has no values; expected 'data', or "
            "parameters.binary_data_size and that many bytes after the JSON",
            details={"field": shown_text(tensor.name, 60), "expected": "data"},
        )
    return _sized(tensor, tensor.data)


def v2_columns(request: V2InferRequest, signature: Signature, binary: bytes = b"") -> Inputs:
    """Columns from V2 tensors: one tensor per column, or one ``[rows, columns]`` tensor.

    ``binary`` is the part of the body after the JSON (the binary tensor data extension).
    """
    reader = BinaryReader(binary)
    values = [_values(tensor, reader) for tensor in request.inputs]
    reader.finish()
    names = signature.names
    if len(request.inputs) == 1 and request.inputs[0].name not in names:
        tensor = request.inputs[0]
        width = tensor.shape[-1] if len(tensor.shape) == 2 else 0
        if width != len(names) or not width:
            raise ValidationError(
                f"tensor {quoted(tensor.name, 60)} with shape {tensor.shape} is neither an "
                f"input column nor a [rows, {len(names)}] matrix of the inputs {names}",
                details={"field": shown_text(tensor.name, 60), "expected": names},
            )
        data = _sized(tensor, values[0])
        return {name: data[index::width] for index, name in enumerate(names)}
    columns: dict[str, list[Any]] = {}
    for tensor, data in zip(request.inputs, values, strict=True):
        if tensor.name in columns:
            raise ValidationError(
                f"tensor {quoted(tensor.name, 60)} is sent twice; expected one tensor per input",
                details={"field": shown_text(tensor.name, 60)},
            )
        columns[tensor.name] = data
    return columns


def v2_output_names(model: ServedModel) -> list[str]:
    """The outputs a served version answers: ``predict``, and ``predict_proba`` for a
    classifier."""
    return ["predict", "predict_proba"] if model.is_classifier else ["predict"]


def v2_plan(request: V2InferRequest, model: ServedModel) -> list[tuple[str, bool]]:
    """``(output, in binary)`` for each output to answer, checked before predicting."""
    default = (request.parameters or {}).get("binary_data_output", False)
    _check_flag("parameters.binary_data_output", default)
    available = v2_output_names(model)
    if request.outputs is None:
        return [(name, default) for name in available]
    plan = []
    for output in request.outputs:
        if output.name not in available:
            raise ValidationError(
                f"output {quoted(output.name, 60)} is not an output of model {model.name!r}; "
                f"expected one of {available}",
                details={"field": shown_text(output.name, 60), "expected": available},
            )
        _refuse_unsupported("output", output.name, output.parameters)
        binary = (output.parameters or {}).get("binary_data", default)
        _check_flag(f"outputs[{output.name}].parameters.binary_data", binary)
        plan.append((output.name, binary))
    return plan


def _check_flag(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValidationError(
            f"{field} is {value!r}; expected true or false", details={"field": field}
        )


def v2_outputs(answer: Answer, plan: list[tuple[str, bool]]) -> tuple[list[dict[str, Any]], bytes]:
    """The output tensors of an answer, and the binary part after the JSON (may be empty)."""
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in plan:
        if name == "predict":
            values = plain(answer.predictions.ravel())  # row-major, JSON's own types
            datatype, shape = v2_datatype(values), list(answer.predictions.shape)
        elif answer.probabilities is not None:
            proba = answer.probabilities
            values, datatype, shape = plain(proba.ravel()), "FP64", list(proba.shape)
        else:  # a canary that is no classifier: nothing to say for this output
            continue
        if binary:
            chunk = encode_tensor(datatype, values)
            chunks.append(chunk)
            tensors.append(v2_tensor(name, None, datatype, shape, binary_size=len(chunk)))
        else:
            tensors.append(v2_tensor(name, values, datatype, shape))
    return tensors, b"".join(chunks)


def v2_tensor(
    name: str,
    values: list[Any] | None,
    datatype: str,
    shape: list[int],
    *,
    binary_size: int | None = None,
) -> dict[str, Any]:
    """One output tensor: its values in ``data``, or the size of its binary bytes."""
    tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if binary_size is None:
        tensor["data"] = values
    else:
        tensor["parameters"] = {"binary_data_size": binary_size}
    return tensor


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def v2_datatype(values: list[Any]) -> str:
    """The V2 datatype of a list of predictions."""
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(
        isinstance(v, int) and not isinstance(v, bool) and _INT64_MIN <= v <= _INT64_MAX
        for v in values
    ):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


class DataframeSplit(BaseModel):
    """pandas' ``orient="split"``: column names and row-major data."""

    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


#: A tensor payload: columns, rows as objects, or rows as lists in signature order.
TensorPayload = dict[str, list[Any]] | list[dict[str, Any]] | list[list[Any]]


class InvocationsRequest(BaseModel):
    """An MLflow scoring-server request: exactly one of the four payloads.

    ``instances`` (TensorFlow Serving's row form) is read like ``inputs``; ``params``
    are accepted and not used (no served flavor takes inference parameters).
    """

    model_config = ConfigDict(extra="forbid")

    dataframe_split: DataframeSplit | None = None
    dataframe_records: Rows | None = None
    instances: TensorPayload | None = None
    inputs: TensorPayload | None = None
    params: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> InvocationsRequest:
        sent = [self.dataframe_split, self.dataframe_records, self.instances, self.inputs]
        if sum(value is not None for value in sent) != 1:
            raise ValueError(
                "send exactly one of 'dataframe_split', 'dataframe_records', 'instances' or "
                "'inputs'"
            )
        return self


def invocation_inputs(request: InvocationsRequest, signature: Signature) -> Inputs:
    """Rows or columns from an MLflow payload (positional lists follow the signature order)."""
    if request.dataframe_records is not None:
        return request.dataframe_records
    if request.dataframe_split is not None:
        split = request.dataframe_split
        return [_row(split.columns, values, index) for index, values in enumerate(split.data)]
    inputs = request.inputs if request.inputs is not None else request.instances
    if isinstance(inputs, dict):
        return inputs
    if inputs and isinstance(inputs[0], list):
        return [_row(signature.names, list(values), i) for i, values in enumerate(inputs)]
    return [row for row in inputs or () if isinstance(row, dict)]


def _row(names: list[str], values: list[Any], index: int) -> dict[str, Any]:
    if len(values) != len(names):
        raise ValidationError(
            f"row {index} has {len(values)} values; expected {len(names)} for {names}",
            details={"row": index, "expected": names},
        )
    return dict(zip(names, values, strict=True))
