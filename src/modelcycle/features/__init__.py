"""Layer 1: fitted preprocessing shared by every learner, fast enough for serving.

:class:`Preprocessor` turns a table (a pandas DataFrame, a list of row dicts or a
dict of columns) into the float64 matrix learners read. It is fitted on a
DataFrame, applied without pandas on the serving path, and saved as plain JSON.
"""

from __future__ import annotations

from modelcycle.features._base import Encoder
from modelcycle.features._categorical import (
    CategoricalEncoder,
    TargetSums,
    categorical_from_counts,
    category_counts,
)
from modelcycle.features._dates import PARTS as DATETIME_PARTS
from modelcycle.features._numeric import NumericBlock
from modelcycle.features._preprocessor import Preprocessor
from modelcycle.features._table import TableLike, as_table
from modelcycle.features._target import Target, TargetCodes, prepare_target
from modelcycle.features._text import TextEncoder

__all__ = [
    "DATETIME_PARTS",
    "CategoricalEncoder",
    "Encoder",
    "NumericBlock",
    "Preprocessor",
    "TableLike",
    "Target",
    "TargetCodes",
    "TargetSums",
    "TextEncoder",
    "as_table",
    "categorical_from_counts",
    "category_counts",
    "prepare_target",
]
