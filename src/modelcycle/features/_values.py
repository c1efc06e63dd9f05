"""Per-value coercion shared by every encoder, and the errors it raises.

Each ``to_*`` function turns one cell into the canonical value of its kind, or
raises :class:`BadValue` naming what was expected. The ``*_column`` functions
apply them to a whole column (a list, a NumPy array or a pandas Series), using a
vectorised route where the dtype makes it safe, and turn a :class:`BadValue`
into a :class:`~modelcycle.core.ValidationError` naming the row, the column, the
value and the expected type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import ValidationError

T = TypeVar("T")

#: What a column can hold: a pandas Series (DataFrame input), a NumPy array or a
#: list (dict of columns, list of rows), or ``None`` when the column is absent.
ColumnValues: TypeAlias = pd.Series | NDArray[Any] | Sequence[Any] | None
#: The cells of a present column once read out of pandas.
Cells: TypeAlias = Sequence[Any] | NDArray[Any]

NAN = math.nan
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

EXPECT_NUMBER = "a number (int, float or Decimal) or a missing value (None or NaN)"
EXPECT_BOOLEAN = (
    "a boolean (True/False, 1/0, 'true'/'false', 'yes'/'no') or a missing value (None or NaN)"
)
EXPECT_CATEGORY = "a category (str, int or bool) or a missing value (None or NaN)"
EXPECT_TEXT = "a string or a missing value (None or NaN)"


class BadValue(Exception):
    """Internal: one cell is not of the expected type (carries what was expected)."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def invalid_value(column: str, row: int, value: Any, expected: str) -> ValidationError:
    """Build the error for a bad cell, naming the row, column, value and expected type."""
    return ValidationError(
        f"column {column!r}, row {row}: got {value!r} ({type(value).__name__}); "
        f"expected {expected}",
        details={"column": column, "row": row, "value": repr(value), "expected": expected},
    )


def is_missing(value: Any) -> bool:
    """Return whether a cell is missing: ``None``, a float NaN, ``pd.NA`` or ``NaT``."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(value != value)
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, np.datetime64 | np.timedelta64) and bool(np.isnat(value))


def to_float(value: Any) -> float:
    """Coerce a numeric cell; missing becomes NaN; strings and other types are refused."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if value is None:
        return NAN
    if isinstance(value, int | float | np.integer | np.floating | np.bool_ | Decimal):
        try:
            return float(value)
        except (OverflowError, ValueError):  # an int beyond float64, a signalling NaN
            raise BadValue(EXPECT_NUMBER) from None
    if is_missing(value):
        return NAN
    raise BadValue(EXPECT_NUMBER)


def to_boolean(value: Any, extra: dict[str, float]) -> float:
    """Coerce a boolean cell to 1.0/0.0 (NaN when missing).

    ``extra`` maps the two spellings learned at fit time (e.g. ``{"F": 0.0, "M": 1.0}``)
    for columns whose values are not all usual true/false words; it takes precedence.
    """
    if value is True or value is False or isinstance(value, np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        if value in extra:
            return extra[value]
        word = value.strip().lower()
        if word in _TRUE:
            return 1.0
        if word in _FALSE:
            return 0.0
        if not word:
            return NAN
        raise BadValue(EXPECT_BOOLEAN)
    if is_missing(value):
        return NAN
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return float(value)
    raise BadValue(EXPECT_BOOLEAN)


def boolean_word(value: Any) -> bool:
    """Return whether a (non-missing) string is one of the usual true/false words."""
    word = value.strip().lower()
    return word in _TRUE or word in _FALSE or not word


def category_key(value: Any) -> str | None:
    """Return the string key of a categorical cell, or ``None`` when it is missing.

    Integers and integral floats share a key (``1`` and ``1.0`` are ``"1"``), so a
    column read with missing values (and so as floats) still matches its categories.
    """
    if isinstance(value, str):
        return str(value)
    if value is None:
        return None
    if value is True or value is False or isinstance(value, np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number:
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if is_missing(value):
        return None
    raise BadValue(EXPECT_CATEGORY)


def to_text(value: Any) -> str:
    """Coerce a text cell; missing becomes the empty string."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return ""
    raise BadValue(EXPECT_TEXT)


def convert_all(column: str, values: Cells, convert: Callable[[Any], T]) -> list[T]:
    """Apply ``convert`` to every cell; a bad cell raises a ValidationError naming its row."""
    try:
        return [convert(value) for value in values]
    except BadValue:
        for row, value in enumerate(values):
            try:
                convert(value)
            except BadValue as exc:
                raise invalid_value(column, row, value, exc.expected) from None
        raise  # pragma: no cover - convert is deterministic


def as_objects(values: pd.Series | Cells) -> Cells:
    """Return the cells of a column as a sequence of Python objects (no copy for lists)."""
    if isinstance(values, pd.Series):
        return np.asarray(values.to_numpy(dtype=object), dtype=object)
    return values


def float_column(column: str, values: ColumnValues, n_rows: int) -> NDArray[np.float64]:
    """Return a numeric column as float64, NaN where missing (all NaN when absent)."""
    if values is None:
        return np.full(n_rows, NAN)
    if isinstance(values, pd.Series):
        if pd.api.types.is_numeric_dtype(values.dtype):
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=NAN), dtype=np.float64)
        values = as_objects(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    return np.array(convert_all(column, values, to_float), dtype=np.float64)


def boolean_column(
    column: str, values: ColumnValues, n_rows: int, extra: dict[str, float]
) -> NDArray[np.float64]:
    """Return a boolean column as float64 1.0/0.0, NaN where missing (all NaN when absent)."""
    if values is None:
        return np.full(n_rows, NAN)
    if isinstance(values, pd.Series) and pd.api.types.is_bool_dtype(values.dtype):
        return np.asarray(values.to_numpy(dtype=np.float64, na_value=NAN), dtype=np.float64)
    if isinstance(values, np.ndarray) and values.dtype.kind == "b":
        return values.astype(np.float64)
    cells = as_objects(values)
    return np.array(
        convert_all(column, cells, lambda value: to_boolean(value, extra)), dtype=np.float64
    )


def text_column(column: str, values: ColumnValues, n_rows: int) -> list[str]:
    """Return a text column as a list of strings, ``""`` where missing (all ``""`` when absent)."""
    if values is None:
        return [""] * n_rows
    return convert_all(column, as_objects(values), to_text)
