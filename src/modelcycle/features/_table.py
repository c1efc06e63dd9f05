"""The three input forms ``transform`` accepts, behind one small interface.

A pandas DataFrame (batch work), a list of row dicts and a dict of columns (the
serving hot path). The last two never build a DataFrame: a row dict is read with
``dict.get`` so a single request costs microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import ValidationError
from modelcycle.features._values import ColumnValues

#: Anything :meth:`Preprocessor.transform` accepts.
TableLike: TypeAlias = (
    pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any] | NDArray[Any]]
)


class Table:
    """Column access common to every input form.

    ``column(name)`` returns the cells of a column, or ``None`` when the input has
    no such column (encoders then treat every cell as missing).
    """

    n_rows: int

    def column(self, name: str) -> ColumnValues:
        """Return the cells of column ``name``, or ``None`` when it is absent."""
        raise NotImplementedError


class FrameTable(Table):
    """A pandas DataFrame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n_rows = len(frame)

    def column(self, name: str) -> ColumnValues:
        if name not in self.frame.columns:
            return None
        values = self.frame[name]
        if isinstance(values, pd.DataFrame):
            raise ValidationError(
                f"column {name!r} appears {values.shape[1]} times in the DataFrame; "
                "expected unique column names"
            )
        return values


class ColumnsTable(Table):
    """A dict mapping column names to equal-length lists or 1-D NumPy arrays."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        lengths: dict[int, str] = {}
        for name, values in columns.items():
            if isinstance(values, np.ndarray) and values.ndim != 1:
                raise ValidationError(
                    f"column {name!r} is a {values.ndim}-D array; expected a 1-D array or a list"
                )
            if not isinstance(values, list | tuple | np.ndarray | pd.Series):
                raise ValidationError(
                    f"column {name!r} of a dict of columns is a {type(values).__name__}; "
                    "expected a list or a 1-D array (to pass one row, wrap its dict in a list)",
                    details={"column": name},
                )
            lengths.setdefault(len(values), name)
        if len(lengths) > 1:
            found = {name: size for size, name in lengths.items()}
            raise ValidationError(
                f"columns of a dict of columns have different lengths {found}; "
                "expected the same number of rows in every column"
            )
        if not lengths:
            raise ValidationError(
                "the dict of columns is empty; expected at least one column with its values"
            )
        self.columns = columns
        self.n_rows = next(iter(lengths))

    def column(self, name: str) -> ColumnValues:
        values = self.columns.get(name)
        if isinstance(values, pd.Series):
            return np.asarray(values.to_numpy())
        return values


class RowsTable(Table):
    """A list of row dicts; a key absent from a row is a missing value."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for index, row in enumerate(rows):
            if type(row) is not dict and not isinstance(row, Mapping):
                raise ValidationError(
                    f"row {index} is a {type(row).__name__}; expected a dict of column values",
                    details={"row": index},
                )
        self.rows = rows
        self.n_rows = len(rows)

    def column(self, name: str) -> ColumnValues:
        return [row.get(name) for row in self.rows]


def as_table(data: Any) -> Table:
    """Wrap a DataFrame, a list of row dicts or a dict of columns as a :class:`Table`."""
    if isinstance(data, pd.DataFrame):
        return FrameTable(data)
    if isinstance(data, list | tuple):
        return RowsTable(data)
    if isinstance(data, Mapping):
        return ColumnsTable(data)
    raise ValidationError(
        f"cannot transform a {type(data).__name__}; expected a pandas DataFrame, "
        "a list of row dicts or a dict of columns (name -> list or 1-D array)"
    )
