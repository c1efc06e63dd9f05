"""Numeric, integer, boolean and datetime columns: one float block, imputed and scaled.

All these columns become plain numbers (a datetime becomes its :data:`PARTS`), so
they share one vectorised pass: a missing (or infinite) value is replaced by the
training median (the most frequent value for booleans), a ``<name>__missing``
indicator column follows for every column that had missing values in training,
and with ``scale`` the block is standardised with the training mean and standard
deviation (booleans and indicators are left as 0/1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import Column, ColumnKind, ValidationError
from modelcycle.features._base import Encoder, float_list, require
from modelcycle.features._dates import PARTS, datetime_parts, ns_column
from modelcycle.features._table import RowsTable, Table
from modelcycle.features._values import (
    BadValue,
    as_objects,
    boolean_column,
    boolean_word,
    float_column,
    invalid_value,
    is_missing,
    to_boolean,
    to_float,
)

NUMERIC_KINDS = frozenset({ColumnKind.NUMERIC, ColumnKind.INTEGER})
#: Cell types NumPy converts to float64 exactly as :func:`to_float` does.
_PLAIN_TYPES = frozenset({float, int, type(None)})
BLOCK_KINDS = NUMERIC_KINDS | {ColumnKind.BOOLEAN, ColumnKind.DATETIME}


class NumericBlock(Encoder):
    """Fitted imputation, indicators and scaling for every number-like column.

    ``sources`` lists ``{"name", "kind"}`` dicts (kind ``"numeric"``, ``"boolean"``
    or ``"datetime"``; booleans may carry ``"extra"``, their two learned spellings).
    Scalar sources come first, datetime sources after them.
    """

    kind = "numeric"

    def __init__(
        self,
        *,
        sources: Sequence[Mapping[str, Any]],
        fill: Sequence[float],
        center: Sequence[float] | None,
        scale: Sequence[float] | None,
        indicators: Sequence[int],
    ) -> None:
        self.sources = [dict(source) for source in sources]
        self._scalars = [s for s in self.sources if s["kind"] != "datetime"]
        self._datetimes = [s["name"] for s in self.sources if s["kind"] == "datetime"]
        self._converters = [(s["name"], _converter(s)) for s in self._scalars]
        self._scalar_names = [s["name"] for s in self._scalars]
        self._all_numeric = all(s["kind"] == "numeric" for s in self._scalars)
        owners = [s["name"] for s in self._scalars]
        names = list(owners)
        for name in self._datetimes:
            owners += [name] * len(PARTS)
            names += [f"{name}__{part}" for part in PARTS]
        self._fill = np.array(fill, dtype=np.float64)
        self._center = None if center is None else np.array(center, dtype=np.float64)
        self._scale = None if scale is None else np.array(scale, dtype=np.float64)
        self._indicators = np.array(indicators, dtype=np.intp)
        self._names = names + [f"{owners[i]}__missing" for i in indicators]
        self._block_width = len(names)
        if self._fill.shape != (self._block_width,):
            raise ValidationError(
                f"numeric block has {self._block_width} columns but {self._fill.size} fill "
                "values; expected one per column"
            )

    @property
    def feature_names(self) -> list[str]:
        return list(self._names)

    def matrix(self, table: Table) -> NDArray[np.float64]:
        """Return the raw ``(n, block width)`` float block, NaN where missing."""
        width = len(self._scalars)
        gathered = None
        if width and isinstance(table, RowsTable):
            gathered = self._gather_rows(table.rows).reshape(table.n_rows, width)
            if not self._datetimes:
                return gathered
        block = np.empty((table.n_rows, self._block_width), dtype=np.float64)
        if gathered is not None:
            block[:, :width] = gathered
        else:
            for index, source in enumerate(self._scalars):
                block[:, index] = _scalar_column(source, table)
        for index, name in enumerate(self._datetimes):
            start = width + index * len(PARTS)
            ns = ns_column(name, table.column(name), table.n_rows)
            block[:, start : start + len(PARTS)] = datetime_parts(ns)
        return block

    def _gather_rows(self, rows: Sequence[Mapping[str, Any]]) -> NDArray[np.float64]:
        # The hot path: read every cell with dict.get and make one array. When all cells
        # are float, int or None, NumPy converts them exactly as to_float would.
        if self._all_numeric:
            names = self._scalar_names
            if len(rows) == 1:
                cells = list(map(rows[0].get, names))
            else:
                cells = [row.get(name) for row in rows for name in names]
            if _PLAIN_TYPES.issuperset(map(type, cells)):
                try:
                    return np.array(cells, dtype=np.float64)
                except OverflowError:
                    pass  # reported with its row and column below
        values: list[float] = []
        append = values.append
        name = ""
        try:
            for row in rows:
                get = row.get
                for name, convert in self._converters:
                    append(convert(get(name)))
        except BadValue as exc:
            row_index = len(values) // len(self._converters)
            value = rows[row_index].get(name)
            raise invalid_value(name, row_index, value, exc.expected) from None
        return np.array(values, dtype=np.float64)

    def transform_into(self, table: Table, out: NDArray[np.float64]) -> None:
        block = self.matrix(table)
        finite = np.isfinite(block)
        if not finite.all():
            np.copyto(block, self._fill, where=~finite)
        if self._center is not None and self._scale is not None:
            block -= self._center
            block /= self._scale
        out[:, : self._block_width] = block
        if self._indicators.size:
            out[:, self._block_width :] = ~finite[:, self._indicators]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sources": self.sources,
            "fill": float_list(self._fill),
            "center": None if self._center is None else float_list(self._center),
            "scale": None if self._scale is None else float_list(self._scale),
            "indicators": [int(i) for i in self._indicators],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericBlock:
        owner = "numeric block"
        return cls(
            sources=require(data, "sources", owner),
            fill=require(data, "fill", owner),
            center=data.get("center"),
            scale=data.get("scale"),
            indicators=require(data, "indicators", owner),
        )


def _converter(source: Mapping[str, Any]) -> Callable[[Any], float]:
    if source["kind"] == "boolean":
        return functools.partial(to_boolean, extra=source.get("extra", {}))
    return to_float


def _scalar_column(source: Mapping[str, Any], table: Table) -> NDArray[np.float64]:
    name = source["name"]
    values = table.column(name)
    if source["kind"] == "boolean":
        return boolean_column(name, values, table.n_rows, source.get("extra", {}))
    return float_column(name, values, table.n_rows)


def fit_numeric_block(table: Table, columns: Sequence[Column], *, scale: bool) -> NumericBlock:
    """Fit imputation values, indicators and (optionally) scaling on a training table."""
    scalars = [c for c in columns if c.kind is not ColumnKind.DATETIME]
    sources: list[dict[str, Any]] = [_source(c, table) for c in scalars]
    sources += [
        {"name": c.name, "kind": "datetime"} for c in columns if c.kind is ColumnKind.DATETIME
    ]
    width = len(scalars) + len(PARTS) * (len(sources) - len(scalars))
    is_boolean = np.array(
        [s["kind"] == "boolean" for s in sources[: len(scalars)]]
        + [False] * (width - len(scalars)),
        dtype=bool,
    )
    indicator_allowed = np.ones(width, dtype=bool)
    for start in range(len(scalars) + 1, width, len(PARTS)):
        indicator_allowed[start : start + len(PARTS) - 1] = False  # one per datetime
    draft = NumericBlock(
        sources=sources, fill=[0.0] * width, center=None, scale=None, indicators=[]
    )
    block = draft.matrix(table)
    missing = ~np.isfinite(block)
    block[missing] = np.nan
    fill = _fill_values(block, is_boolean)
    for start in range(len(scalars), width, len(PARTS)):
        # A missing datetime takes the parts of the median instant, so they agree.
        seconds = fill[start + len(PARTS) - 1]
        median_ns = np.array([round(seconds * 1e9)], dtype=np.int64)
        fill[start : start + len(PARTS)] = datetime_parts(median_ns)[0]
    indicators = np.flatnonzero(missing.any(axis=0) & indicator_allowed)
    center: list[float] | None = None
    spread: list[float] | None = None
    if scale:
        imputed = np.where(missing, fill, block)
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: handled below
            means = imputed.mean(axis=0) if len(imputed) else np.zeros(width)
            stds = imputed.std(axis=0) if len(imputed) else np.ones(width)
        center = float_list(np.where(is_boolean | ~np.isfinite(means), 0.0, means))
        spread = float_list(np.where(is_boolean | ~(stds > 0) | ~np.isfinite(stds), 1.0, stds))
    return NumericBlock(
        sources=sources,
        fill=float_list(fill),
        center=center,
        scale=spread,
        indicators=[int(i) for i in indicators],
    )


def _fill_values(block: NDArray[np.float64], is_boolean: NDArray[np.bool_]) -> NDArray[np.float64]:
    fill = np.zeros(block.shape[1], dtype=np.float64)
    for index in range(block.shape[1]):
        present = block[:, index][~np.isnan(block[:, index])]
        if present.size == 0:
            continue
        if is_boolean[index]:
            fill[index] = 1.0 if present.mean() > 0.5 else 0.0
        else:
            with np.errstate(over="ignore"):
                median = float(np.median(present))
            # The mean of the two middle values can overflow; the lower one cannot.
            fill[index] = (
                median
                if math.isfinite(median)
                else float(np.sort(present)[(present.size - 1) // 2])
            )
    return fill


def _source(column: Column, table: Table) -> dict[str, Any]:
    if column.kind is not ColumnKind.BOOLEAN:
        return {"name": column.name, "kind": "numeric"}
    return {"name": column.name, "kind": "boolean", "extra": _boolean_spellings(column, table)}


def _boolean_spellings(column: Column, table: Table) -> dict[str, float]:
    """Learn which two strings mean false/true when a column does not use the usual words.

    When any string of the column is not a usual true/false word (e.g. ``"M"``/``"F"``),
    its distinct strings become the spellings: ordered by the schema's ``categories``
    when those list them, else sorted; the first is 0.0 (false) and the second 1.0.
    """
    values = table.column(column.name)
    if values is None:
        return {}
    cells = as_objects(values)
    spellings = sorted({v for v in cells if isinstance(v, str) and v.strip()})
    if all(boolean_word(v) for v in spellings):
        return {}
    declared = column.categories
    if declared is not None and len(declared) == 2 and set(spellings) <= set(declared):
        spellings = list(declared)
    others = [v for v in cells if not is_missing(v) and not isinstance(v, str)]
    if len(spellings) > 2 or others:
        found = spellings[:5] + [repr(v) for v in others[:2]]
        raise ValidationError(
            f"boolean column {column.name!r} holds the values {found!r}; expected two "
            "spellings (or True/False, 1/0, 'yes'/'no'); declare the column categorical instead",
            details={"column": column.name, "values": found},
        )
    return {spelling: float(index) for index, spelling in enumerate(spellings)}
