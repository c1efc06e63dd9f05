"""Datetime cells to nanoseconds since the epoch, and nanoseconds to calendar parts.

Naive datetimes are read as UTC; aware ones are converted to UTC. Every input
form goes through integer nanoseconds and one vectorised function for the parts,
so a DataFrame, a dict of columns and a list of rows give identical features.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.features._values import (
    BadValue,
    ColumnValues,
    as_objects,
    convert_all,
    invalid_value,
    is_missing,
)

#: The int64 value NumPy uses for NaT: our "missing" nanosecond value.
NAT = int(np.iinfo(np.int64).min)
_MAX_NS = int(np.iinfo(np.int64).max)
_EPOCH = dt.datetime(1970, 1, 1)
_NS_PER_DAY = 86_400 * 10**9
_NS_PER_HOUR = 3_600 * 10**9

#: Names of the parts, in output order.
PARTS = ("year", "month", "day", "weekday", "hour", "epoch_seconds")

EXPECT_DATETIME = (
    "a datetime, a date, a numpy datetime64, an ISO 8601 string "
    "(e.g. '2024-05-01T12:30:00Z') between 1677 and 2262, or a missing value (None)"
)


def _datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(dt.UTC)
    delta = value.replace(tzinfo=None) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000


def to_ns(value: Any) -> int:
    """Return a datetime cell as integer nanoseconds since 1970-01-01 UTC (NAT if missing)."""
    if value is None or value is pd.NaT:
        return NAT
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return NAT
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(EXPECT_DATETIME) from None
    try:
        if isinstance(value, pd.Timestamp):
            ns = int(value.as_unit("ns").value)
        elif isinstance(value, dt.datetime):
            ns = _datetime_ns(value)
        elif isinstance(value, dt.date):
            ns = _datetime_ns(dt.datetime(value.year, value.month, value.day))
        elif isinstance(value, np.datetime64) and not np.isnat(value):
            ns = int(value.astype("datetime64[ns]").astype(np.int64))
        elif is_missing(value):
            return NAT
        else:
            raise BadValue(EXPECT_DATETIME)
    except (OverflowError, ValueError):
        raise BadValue(EXPECT_DATETIME) from None
    if not NAT < ns <= _MAX_NS:
        raise BadValue(EXPECT_DATETIME)
    return ns


def _series_ns(column: str, values: pd.Series) -> NDArray[np.int64]:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return np.asarray(values.to_numpy(dtype="datetime64[ns]")).view(np.int64)
    if values.dtype == object:
        return np.array(convert_all(column, as_objects(values), to_ns), dtype=np.int64)
    # str or category dtype: parse each distinct value once.
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = []
    for index, unique in enumerate(uniques):
        try:
            lookup.append(to_ns(unique))
        except BadValue as exc:
            row = int(np.flatnonzero(codes == index)[0])
            raise invalid_value(column, row, unique, exc.expected) from None
    lookup.append(NAT)
    return np.array(lookup, dtype=np.int64)[np.asarray(codes, dtype=np.intp)]


def ns_column(column: str, values: ColumnValues, n_rows: int) -> NDArray[np.int64]:
    """Return a datetime column as int64 nanoseconds since the epoch, :data:`NAT` where missing."""
    if values is None:
        return np.full(n_rows, NAT, dtype=np.int64)
    if isinstance(values, pd.Series):
        return _series_ns(column, values)
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[ns]").view(np.int64)
    return np.array(convert_all(column, values, to_ns), dtype=np.int64)


def datetime_parts(ns: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return ``(n, 6)`` float64 parts (see :data:`PARTS`); a missing datetime gives NaN parts.

    ``weekday`` is 0 for Monday; ``epoch_seconds`` is seconds since 1970-01-01 UTC.
    """
    missing = ns == NAT
    safe = np.where(missing, 0, ns)
    stamp = safe.view("datetime64[ns]")
    months = stamp.astype("datetime64[M]")
    days = np.floor_divide(safe, _NS_PER_DAY)
    parts = np.empty((ns.shape[0], len(PARTS)), dtype=np.float64)
    parts[:, 0] = stamp.astype("datetime64[Y]").view(np.int64) + 1970
    parts[:, 1] = months.view(np.int64) % 12 + 1
    parts[:, 2] = (stamp.astype("datetime64[D]") - months).view(np.int64) + 1
    parts[:, 3] = (days + 3) % 7  # 1970-01-01 was a Thursday
    parts[:, 4] = np.floor_divide(safe, _NS_PER_HOUR) % 24
    parts[:, 5] = safe / 1e9
    parts[missing] = np.nan
    return parts
