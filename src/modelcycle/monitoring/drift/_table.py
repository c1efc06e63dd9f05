"""Columns of a window given as a pandas DataFrame, a pyarrow Table or a dict of arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from modelcycle.core import ValidationError
from modelcycle.monitoring.drift._window import ColumnWindow


def window_columns(window: Any) -> dict[str, ColumnWindow]:
    """Wrap every column of ``window`` once; all columns must have the same length.

    Raises
    ------
    ValidationError
        ``window`` is not a DataFrame, Table or mapping, or its columns differ in length.
    """
    if isinstance(window, pd.DataFrame):
        columns = {str(name): ColumnWindow(window[name]) for name in window.columns}
    elif isinstance(window, pa.Table):
        columns = {name: ColumnWindow(window.column(name)) for name in window.column_names}
    elif isinstance(window, Mapping):
        columns = {str(name): ColumnWindow.of(values) for name, values in window.items()}
    else:
        raise ValidationError(
            f"the window is a {type(window).__name__}; expected a pandas DataFrame, "
            "a pyarrow Table or a dict of column name to values"
        )
    lengths = {name: column.rows for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(
            f"the window's columns differ in length ({lengths}); expected equal lengths",
            details={"lengths": lengths},
        )
    return columns
