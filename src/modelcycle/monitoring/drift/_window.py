"""One column of a window, converted once and shared by every detector that reads it.

A window arrives as a pandas Series, a pyarrow (chunked) array, a NumPy array or a
list. Detectors need either its finite numbers or its category counts; converting
1 million values costs milliseconds, so :class:`ColumnWindow` does each conversion at
most once (lazily) and the detectors of one column share it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pandas.api import types as ptypes

from modelcycle.core import ValidationError

_ARROW = (pa.Array, pa.ChunkedArray)


class ColumnWindow:
    """The values of one column in a window, with missing values counted once.

    Missing means null, ``None`` or NaN. Infinite numbers are present but not finite:
    numeric detectors leave them out, as the reference profile does.

    Parameters
    ----------
    values:
        A pandas Series, pyarrow array, NumPy array or list.

    Examples
    --------
    >>> window = ColumnWindow([1.0, None, 3.0, float("inf")])
    >>> window.rows, window.missing, window.numbers().tolist()
    (4, 1, [1.0, 3.0])
    >>> ColumnWindow(["a", "b", "a", None]).counts().to_dict()
    {'a': 2, 'b': 1}
    """

    def __init__(self, values: Any) -> None:
        self._arrow: pa.ChunkedArray | None = None
        self._series: pd.Series | None = None
        if isinstance(values, _ARROW):
            self._arrow = (
                values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
            )
        elif isinstance(values, pd.Series):
            self._series = values
        else:
            array = np.asarray(values) if not isinstance(values, np.ndarray) else values
            if array.ndim != 1:
                raise ValidationError(
                    f"a window column must be one-dimensional; got shape {array.shape}"
                )
            self._series = pd.Series(array, copy=False)
        self._numbers: NDArray[np.float64] | None = None
        self._sorted: NDArray[np.float64] | None = None
        self._counts: pd.Series | None = None
        self._missing: int | None = None

    @classmethod
    def of(cls, values: Any) -> ColumnWindow:
        """Return ``values`` if it is already a :class:`ColumnWindow`, else wrap it."""
        return values if isinstance(values, ColumnWindow) else cls(values)

    @property
    def rows(self) -> int:
        """Number of values, missing ones included."""
        return len(self._arrow) if self._arrow is not None else len(self._series)  # type: ignore[arg-type]

    @property
    def missing(self) -> int:
        """Number of null, ``None`` or NaN values."""
        if self._missing is None:
            self._missing = self._count_missing()
        return self._missing

    def numbers(self) -> NDArray[np.float64]:
        """The finite values as float64 (text that is not a number is left out)."""
        if self._numbers is None:
            values = self._float_values()
            self._numbers = values[np.isfinite(values)]
        return self._numbers

    def sorted_numbers(self) -> NDArray[np.float64]:
        """The finite values, sorted once: every numeric detector then needs only searches."""
        if self._sorted is None:
            self._sorted = np.sort(self.numbers())
        return self._sorted

    def counts(self) -> pd.Series:
        """Counts of the present values, indexed by their text (as profiles store them)."""
        if self._counts is None:
            self._counts = self._count_values()
        return self._counts

    def _count_missing(self) -> int:
        if self._arrow is not None:
            nulls = self._arrow.null_count
            if pa.types.is_floating(self._arrow.type):
                nulls += int(pc.sum(pc.is_nan(self._arrow)).as_py() or 0)
            return int(nulls)
        assert self._series is not None
        return int(self._series.isna().sum())

    def _float_values(self) -> NDArray[np.float64]:
        if self._arrow is not None:
            arrow = self._arrow
            if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
                return _parse(pd.Series(arrow.to_numpy(zero_copy_only=False)))
            cast = pc.cast(arrow, pa.float64())
            return np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
        series = self._series
        assert series is not None
        if ptypes.is_numeric_dtype(series.dtype) or ptypes.is_bool_dtype(series.dtype):
            values: NDArray[np.float64] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            return values
        return _parse(series)

    def _count_values(self) -> pd.Series:
        if self._arrow is not None:
            counted = pc.value_counts(self._arrow.drop_null())
            values = counted.field("values").to_pylist()
            counts = counted.field("counts").to_numpy()
            raw = pd.Series(counts, index=pd.Index(values, dtype=object))
        else:
            assert self._series is not None
            raw = self._series.value_counts(dropna=True, sort=False)
        raw = raw[raw > 0]
        labels = pd.Index([_label(value) for value in raw.index], dtype=object)
        counts = pd.Series(raw.to_numpy(dtype=np.int64), index=labels)
        if not labels.is_unique:  # 1 and 1.0 are one label as text, as in profiles
            counts = counts.groupby(level=0, sort=False).sum()
        return counts


def _parse(series: pd.Series) -> NDArray[np.float64]:
    numbers: NDArray[np.float64] = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return numbers


def _label(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)
