"""Model signatures: the input columns a model accepts and the output it gives.

A signature is inferred from sample inputs (``signature=X_sample``) and stored in
the model package. It is what callers are checked against (at load time here, and
by the server later), and what promotion compares to catch a breaking change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import Task, ValidationError
from modelcycle.data import as_pandas, is_data_frame

INPUT_TYPES = ("double", "long", "boolean", "string", "datetime")
_MAX_CATEGORIES = 200


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input column: its name, value type, whether it may be missing, allowed values.

    ``required`` columns must be sent with every row (an absent one is refused);
    ``nullable`` says whether a sent value may be null (then imputed by the model). An
    optional column (``required=False``) may be left out and counts as missing, so it
    is always nullable. ``sensitive`` marks personal data: the server hashes or drops it
    in the prediction log and never repeats its values in error messages.
    """

    name: str
    type: str
    nullable: bool = True
    categories: tuple[str, ...] | None = None
    sensitive: bool = False
    required: bool = True

    def __post_init__(self) -> None:
        if not self.required and not self.nullable:
            raise ValidationError(
                f"signature input {self.name!r} is optional but not nullable; an optional "
                "column that is left out counts as missing, so it must accept missing values"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            data["categories"] = list(self.categories)
        if self.sensitive:
            data["sensitive"] = True
        if not self.required:
            data["required"] = False
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSpec:
        """Build from :meth:`to_dict` output, checking the type."""
        kind = data.get("type")
        if kind not in INPUT_TYPES:
            raise ValidationError(
                f"signature input {data.get('name')!r} has type {kind!r}; expected one of "
                f"{list(INPUT_TYPES)}"
            )
        categories = data.get("categories")
        return cls(
            name=str(data["name"]),
            type=str(kind),
            nullable=bool(data.get("nullable", True)),
            categories=tuple(str(c) for c in categories) if categories is not None else None,
            sensitive=bool(data.get("sensitive", False)),
            required=bool(data.get("required", True)),
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """Inputs (in order) and output of a model.

    ``classes`` lists the class labels of a classifier (as JSON values), in the order
    of ``predict_proba``'s columns.
    """

    inputs: tuple[InputSpec, ...]
    task: Task | None = None
    classes: tuple[Any, ...] | None = None

    @property
    def names(self) -> list[str]:
        """Input column names, in order."""
        return [spec.name for spec in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "task": self.task.value if self.task else None,
            "classes": list(self.classes) if self.classes is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Build from :meth:`to_dict` output."""
        task = data.get("task")
        classes = data.get("classes")
        return cls(
            inputs=tuple(InputSpec.from_dict(spec) for spec in data.get("inputs", [])),
            task=Task(task) if task else None,
            classes=tuple(classes) if classes is not None else None,
        )


def _spec_for(name: str, values: pd.Series) -> InputSpec:
    nullable = bool(values.isna().any())
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return InputSpec(name, "boolean", nullable)
    if pd.api.types.is_integer_dtype(dtype):
        return InputSpec(name, "long", nullable)
    if pd.api.types.is_float_dtype(dtype):
        return InputSpec(name, "double", nullable)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return InputSpec(name, "datetime", nullable)
    distinct = values.dropna().astype(str).unique()
    categories = tuple(sorted(distinct)) if len(distinct) <= _MAX_CATEGORIES else None
    return InputSpec(name, "string", nullable, categories)


def infer_signature(
    sample: Any, *, task: Task | None = None, classes: Sequence[Any] | None = None
) -> Signature:
    """Infer a signature from sample inputs (a DataFrame, a NumPy array or a list of dicts).

    Columns of a NumPy array are named ``x0``, ``x1``, ... String columns with at most
    200 distinct values record them as the allowed categories.

    Examples
    --------
    >>> import pandas as pd
    >>> infer_signature(pd.DataFrame({"age": [31, 40], "plan": ["a", "b"]})).names
    ['age', 'plan']
    """
    frame = as_frame(sample)
    if frame.shape[1] == 0:
        raise ValidationError("the signature sample has no columns; pass a few rows of model input")
    inputs = tuple(_spec_for(str(name), frame[name]) for name in frame.columns)
    labels = tuple(_json_value(c) for c in classes) if classes is not None else None
    return Signature(inputs, task, labels)


def as_frame(data: Any) -> pd.DataFrame:
    """Accept a pandas or polars DataFrame, a NumPy array, a list of dicts or a dict of columns."""
    if isinstance(data, pd.DataFrame):
        return data
    if is_data_frame(data):  # polars, PyArrow...: converted whole, through Arrow
        return as_pandas(data)
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValidationError(f"expected a 2-D array of inputs; got {data.ndim} dimension(s)")
        return pd.DataFrame(data, columns=[f"x{i}" for i in range(data.shape[1])])
    if isinstance(data, Mapping):
        return pd.DataFrame(
            {str(k): list(v) if not np.isscalar(v) else [v] for k, v in data.items()}
        )
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if data and not all(isinstance(row, Mapping) for row in data):
            raise ValidationError("rows must be dicts of column name to value")
        return pd.DataFrame.from_records(list(data))
    raise ValidationError(
        f"cannot read model inputs from a {type(data).__name__}; expected a DataFrame, "
        "a list of dicts, a dict of columns or a 2-D NumPy array"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def breaking_changes(old: Signature, new: Signature) -> list[str]:
    """What callers of ``old`` would break on with ``new`` (empty when compatible).

    Breaking: a column removed (callers still send it), a new column that is required
    (callers do not send it), a changed type, an allowed category withdrawn, a
    different task or class list.
    """
    problems: list[str] = []
    old_specs = {spec.name: spec for spec in old.inputs}
    new_specs = {spec.name: spec for spec in new.inputs}
    removed = sorted(old_specs.keys() - new_specs.keys())
    if removed:
        problems.append(f"input column(s) {_listing(removed)} were removed")
    required = sorted(n for n in new_specs.keys() - old_specs.keys() if new_specs[n].required)
    if required:
        problems.append(f"new input column(s) {_listing(required)} are required")
    retyped, strict, narrowed, now_required = [], [], [], []
    for name in sorted(old_specs.keys() & new_specs.keys()):
        before, after = old_specs[name], new_specs[name]
        if before.type != after.type and {before.type, after.type} != {"long", "double"}:
            retyped.append(f"{name!r} ({before.type} to {after.type})")
        if after.required and not before.required:
            now_required.append(name)
        if before.nullable and not after.nullable:
            strict.append(name)
        if after.categories is not None and set(before.categories or ()) - set(after.categories):
            narrowed.append(name)
    if retyped:
        problems.append("input column(s) changed type: " + ", ".join(retyped))
    if strict:
        problems.append(f"input column(s) {_listing(strict)} no longer accept missing values")
    if now_required:
        problems.append(f"input column(s) {_listing(now_required)} were optional and are required")
    if narrowed:
        problems.append(f"input column(s) {_listing(narrowed)} no longer accept some categories")
    problems = sorted(problems)
    if old.task != new.task:
        problems.append(f"task changed from {old.task} to {new.task}")
    elif old.classes != new.classes:
        problems.append(
            f"classes changed from {list(old.classes or [])} to {list(new.classes or [])}"
        )
    return problems


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def conform(data: Any, signature: Signature) -> pd.DataFrame:
    """Check inputs against the signature and return them as a DataFrame in its column order.

    Raises :class:`ValidationError` naming the row, column, value and expectation.
    """
    frame = as_frame(data)
    missing = [name for name in signature.names if name not in frame.columns]
    unknown = [str(name) for name in frame.columns if name not in set(signature.names)]
    if unknown:
        raise ValidationError(
            f"unknown input column(s) {unknown}; the model expects {signature.names}",
            details={"unknown": unknown},
        )
    for name in missing:
        spec = next(s for s in signature.inputs if s.name == name)
        if spec.required:
            raise ValidationError(
                f"input column {name!r} is missing; it is required ({spec.type}) — send it, "
                "with null where a value is unknown"
                if spec.nullable
                else f"input column {name!r} is missing; it is required ({spec.type})",
                details={"column": name, "expected": spec.type},
            )
        frame = frame.assign(**{name: None})
    frame = frame[signature.names]
    for spec in signature.inputs:
        _check_column(frame[spec.name], spec)
    return frame


def _check_column(values: pd.Series, spec: InputSpec) -> None:
    missing = values.isna()
    if not spec.nullable and bool(missing.any()):
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise ValidationError(
            f"row {row}: column {spec.name!r} is missing; it is required ({spec.type})",
            details={"row": row, "column": spec.name},
        )
    present = values[~missing]
    if spec.type in ("double", "long"):
        _check_numbers(present, spec)
    elif spec.type == "string" and spec.categories is not None:
        allowed = set(spec.categories)
        bad = ~present.astype(str).isin(allowed)
        if bool(bad.any()):
            row = int(present.index[np.flatnonzero(bad.to_numpy())[0]])
            raise ValidationError(
                f"row {row}: column {spec.name!r} has {present.loc[row]!r}, which is not one of "
                f"the allowed values {list(spec.categories)[:20]}",
                details={"row": row, "column": spec.name, "value": str(present.loc[row])},
            )


def _check_numbers(present: pd.Series, spec: InputSpec) -> None:
    if pd.api.types.is_numeric_dtype(present.dtype) and not pd.api.types.is_bool_dtype(
        present.dtype
    ):
        return
    for row, value in present.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValidationError(
                f"row {row}: column {spec.name!r} has {value!r} ({type(value).__name__}); "
                f"expected a number ({spec.type})",
                details={"row": row, "column": spec.name, "value": repr(value)},
            )
        if isinstance(value, float) and math.isinf(value):
            raise ValidationError(
                f"row {row}: column {spec.name!r} is infinite; expected a finite number"
            )
