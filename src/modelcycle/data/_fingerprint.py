"""Content fingerprints of tables, so runs and versions can name the data they used."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import ValidationError
from modelcycle.data._frames import as_pandas, is_data_frame


@dataclass(frozen=True, slots=True)
class DatasetFingerprint:
    """What identifies a table: a SHA-256 of its content, its size and its columns.

    Two tables with the same column names, dtypes and values in the same order get
    the same ``hash``; any changed cell, renamed column or reordered row changes it.
    """

    hash: str
    rows: int
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "hash": self.hash,
            "rows": self.rows,
            "columns": list(self.columns),
            "dtypes": list(self.dtypes),
        }


def fingerprint(data: Any) -> DatasetFingerprint:
    """Fingerprint a pandas DataFrame (or anything ``pandas.DataFrame`` accepts).

    Examples
    --------
    >>> import pandas as pd
    >>> fp = fingerprint(pd.DataFrame({"a": [1, 2]}))
    >>> fp.rows, fp.columns
    (2, ('a',))
    """
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame) and is_data_frame(data):
        data = as_pandas(data)
    if not isinstance(data, pd.DataFrame):
        try:
            data = pd.DataFrame(data)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"cannot fingerprint a {type(data).__name__}; expected a pandas DataFrame, "
                "a NumPy array or a dict of columns"
            ) from exc
    digest = hashlib.sha256()
    columns = tuple(str(c) for c in data.columns)
    dtypes = tuple(str(t) for t in data.dtypes)
    digest.update(repr((columns, dtypes)).encode())
    for name in data.columns:
        hashed = pd.util.hash_pandas_object(data[name], index=False).to_numpy(np.uint64)
        digest.update(hashed.tobytes())
    return DatasetFingerprint(digest.hexdigest(), len(data), columns, dtypes)
