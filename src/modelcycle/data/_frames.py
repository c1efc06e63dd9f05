"""DataFrames of any library at the public edge, as pandas inside.

modelcycle computes on pandas and NumPy; a user may hold a polars (or PyArrow,
Modin, cuDF...) frame. :func:`as_pandas` converts one whole table through narwhals,
which goes through Arrow column by column, never cell by cell; a pandas frame is
returned as it is.
"""

from __future__ import annotations

from typing import Any

import narwhals.stable.v1 as nw
import numpy as np
import pandas as pd

from modelcycle.core import ValidationError


def is_data_frame(value: Any) -> bool:
    """Whether ``value`` is an eager data frame of a library narwhals knows (pandas included)."""
    if isinstance(value, pd.DataFrame):
        return True
    return bool(nw.dependencies.is_into_dataframe(value)) and not isinstance(value, dict)


def as_pandas(frame: Any, *, what: str = "the table") -> pd.DataFrame:
    """``frame`` as a pandas DataFrame (pandas, polars, PyArrow or any narwhals-backed frame).

    Raises
    ------
    ValidationError
        ``frame`` is not a data frame (a lazy frame must be collected first).

    Examples
    --------
    >>> as_pandas(pd.DataFrame({"a": [1]})).shape
    (1, 1)
    """
    if isinstance(frame, pd.DataFrame):
        return frame
    try:
        native = nw.from_native(frame, eager_only=True)
    except TypeError:
        raise ValidationError(
            f"{what} is a {type(frame).__module__}.{type(frame).__qualname__}; expected a "
            "pandas or polars DataFrame (or a PyArrow table); collect a lazy frame first"
        ) from None
    return native.to_pandas()


def as_pandas_series(values: Any, *, what: str = "the values") -> pd.Series:
    """``values`` (a pandas, polars or PyArrow series, or an array or list) as a pandas Series."""
    if isinstance(values, pd.Series):
        return values
    try:
        return nw.from_native(values, series_only=True).to_pandas()
    except TypeError:
        pass
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValidationError(f"{what} has shape {array.shape}; expected one value per row")
    return pd.Series(array)
