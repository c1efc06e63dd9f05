"""Request shapes of other servers, converted to rows or columns for the one service.

* Open Inference Protocol V2 (KServe, Triton, MLServer): one tensor per input column
  (or a single ``[rows, columns]`` tensor in signature order).
* MLflow's ``/invocations``: ``dataframe_split``, ``dataframe_records`` and ``inputs``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from modelcycle.core import ValidationError
from modelcycle.packaging import Signature
from modelcycle.serving._encode import quoted, shown_text
from modelcycle.serving._model import Inputs
from modelcycle.serving._schemas import Rows

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
    shape holds)."""

    name: str
    shape: list[Dimension] = Field(min_length=1, max_length=8)
    datatype: V2Datatype
    data: list[Any]
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    """An Open Inference Protocol V2 inference request."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[dict[str, Any]] | None = None


def _flat(values: list[Any]) -> list[Any]:
    if values and isinstance(values[0], list):
        return [cell for row in values for cell in (row if isinstance(row, list) else [row])]
    return values


def _sized(tensor: V2Tensor) -> list[Any]:
    """The tensor's values, flattened; :class:`ValidationError` when they do not fill its shape."""
    data = _flat(tensor.data)
    if len(data) != math.prod(tensor.shape):
        raise ValidationError(
            f"tensor {quoted(tensor.name, 60)} has shape {tensor.shape}, which holds "
            f"{math.prod(tensor.shape)} values, but {len(data)} were sent; expected as many "
            "values as the shape holds",
            details={"field": shown_text(tensor.name, 60), "expected": tensor.shape},
        )
    return data


def v2_columns(request: V2InferRequest, signature: Signature) -> Inputs:
    """Columns from V2 tensors: one tensor per column, or one ``[rows, columns]`` tensor."""
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
        data = _sized(tensor)
        return {name: data[index::width] for index, name in enumerate(names)}
    return {tensor.name: _sized(tensor) for tensor in request.inputs}


def v2_tensor(name: str, values: list[Any], datatype: str, shape: list[int]) -> dict[str, Any]:
    """One output tensor."""
    return {"name": name, "shape": shape, "datatype": datatype, "data": values}


def v2_datatype(values: list[Any]) -> str:
    """The V2 datatype of a list of predictions."""
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


class DataframeSplit(BaseModel):
    """pandas' ``orient="split"``: column names and row-major data."""

    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


class InvocationsRequest(BaseModel):
    """An MLflow scoring-server request: exactly one of the three payloads."""

    model_config = ConfigDict(extra="forbid")

    dataframe_split: DataframeSplit | None = None
    dataframe_records: Rows | None = None
    inputs: dict[str, list[Any]] | list[dict[str, Any]] | list[list[Any]] | None = None
    params: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> InvocationsRequest:
        sent = [self.dataframe_split, self.dataframe_records, self.inputs]
        if sum(value is not None for value in sent) != 1:
            raise ValueError(
                "send exactly one of 'dataframe_split', 'dataframe_records' or 'inputs'"
            )
        return self


def invocation_inputs(request: InvocationsRequest, signature: Signature) -> Inputs:
    """Rows or columns from an MLflow payload (positional lists follow the signature order)."""
    if request.dataframe_records is not None:
        return request.dataframe_records
    if request.dataframe_split is not None:
        split = request.dataframe_split
        return [_row(split.columns, values, index) for index, values in enumerate(split.data)]
    inputs = request.inputs
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
