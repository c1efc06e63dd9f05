"""Helpers that look at one column's values: distinct counts, numbers and dates in text.

Inference, validation and profiles all ask the same questions of a column ("how many
of these strings are numbers?", "do these look like dates?"); answering them here, on
the distinct values weighted by their counts, keeps the three consistent and fast.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

from modelcycle.core import ValidationError

#: How many distinct values are shown as examples in notes and messages.
EXAMPLES = 3
#: How many values are used to guess a date format.
_FORMAT_SAMPLE = 50
#: How many leading values are checked for containers (lists, dicts) in object columns.
_SCALAR_SAMPLE = 1000
_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray)


def is_textual(series: pd.Series) -> bool:
    """Return whether ``series`` holds text or arbitrary Python objects (not typed values)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return bool(ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype))


def is_datetime(series: pd.Series) -> bool:
    """Return whether ``series`` has a datetime64 dtype (naive or aware)."""
    return bool(ptypes.is_datetime64_any_dtype(series.dtype))


def is_number(series: pd.Series) -> bool:
    """Return whether ``series`` has a numeric dtype that is not boolean."""
    dtype = series.dtype
    return bool(ptypes.is_numeric_dtype(dtype) and not ptypes.is_bool_dtype(dtype))


def value_counts(series: pd.Series, column: str) -> pd.Series:
    """Count distinct non-missing values of ``series``, in order of first appearance.

    Raises
    ------
    ValidationError
        When the column holds containers (lists, dicts, arrays) rather than scalars.
    """
    if ptypes.is_object_dtype(series.dtype):
        _check_scalars(series, column)
    try:
        counts = series.value_counts(dropna=True, sort=False)
    except TypeError as exc:
        raise _not_scalar(column, next(iter(series.dropna()), None)) from exc
    return counts[counts > 0]


def _check_scalars(series: pd.Series, column: str) -> None:
    for value in series.iloc[:_SCALAR_SAMPLE]:
        if isinstance(value, _CONTAINERS):
            raise _not_scalar(column, value)


def _not_scalar(column: str, example: Any) -> ValidationError:
    return ValidationError(
        f"column {column!r} holds {type(example).__name__} values such as {example!r}; "
        "expected scalars (numbers, text, dates, booleans): flatten or join them first",
        details={"column": column},
    )


def parse_numbers(values: pd.Index | pd.Series) -> np.ndarray:
    """Parse values as numbers; what is not a number becomes NaN (returned as float64)."""
    objects = pd.Series(np.asarray(values, dtype=object), dtype=object)
    parsed = pd.to_numeric(objects, errors="coerce")
    return np.asarray(parsed, dtype=np.float64)


def guess_date_format(values: pd.Index | pd.Series) -> str | None:
    """Guess a strftime format shared by the first text values, or ``None``."""
    texts = [v for v in values[:_FORMAT_SAMPLE] if isinstance(v, str)]
    guesses = Counter(guess_datetime_format(text.strip()) for text in texts)
    guesses.pop(None, None)
    if not guesses:
        return None
    return str(guesses.most_common(1)[0][0])


def parse_dates(values: pd.Index | pd.Series, date_format: str | None) -> pd.Series:
    """Parse values as datetimes; what does not parse becomes NaT.

    With ``date_format`` every value must follow it; without one each value is parsed
    on its own (slower, and only used for columns declared to hold dates).
    """
    series = pd.Series(np.asarray(values, dtype=object), dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            return _to_datetime(series, date_format, utc=False)
        except (ValueError, TypeError):
            # Mixed UTC offsets cannot share one naive dtype; compare them in UTC.
            return _to_datetime(series, date_format, utc=True)


def _to_datetime(series: pd.Series, date_format: str | None, *, utc: bool) -> pd.Series:
    fmt: str | None = date_format if date_format is not None else "mixed"
    if not any(isinstance(v, str) for v in series[:_FORMAT_SAMPLE]):
        fmt = None
    return pd.Series(pd.to_datetime(series, format=fmt, errors="coerce", utc=utc))


def datetimes_as_float(series: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC for aware values) as float64; NaT becomes NaN."""
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = series.to_numpy(dtype="datetime64[ns]")
    values = np.asarray(stamps.astype(np.int64), dtype=np.float64)
    values[np.isnat(stamps)] = np.nan
    return values


def examples(values: Any, limit: int = EXAMPLES) -> list[str]:
    """Return up to ``limit`` values as short strings, for messages and notes."""
    shown: list[str] = []
    for value in values:
        text = str(value)
        shown.append(text if len(text) <= 40 else text[:37] + "...")
        if len(shown) == limit:
            break
    return shown


def describe_examples(values: Any, limit: int = EXAMPLES) -> str:
    """Format example values as ``'a', 'b', 'c'`` for a message."""
    return ", ".join(repr(v) for v in examples(values, limit))
