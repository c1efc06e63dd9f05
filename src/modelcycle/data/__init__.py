"""Layer 1: reading tables, schemas, validation, profiles, splits and fingerprints.

Examples
--------
>>> import pandas as pd
>>> from modelcycle import data
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(40)], "y": ["a", "b"] * 20})
>>> schema = data.infer_schema(df, target="y")
>>> report = data.validate(df, schema)
>>> report.ok, report.task.value
(True, 'binary')
>>> data.Profile.from_frame(df, schema)["y"].summary.top
(('a', 20), ('b', 20))
"""

from __future__ import annotations

from modelcycle.data._fingerprint import DatasetFingerprint, fingerprint
from modelcycle.data._frames import as_pandas, as_pandas_series, is_data_frame
from modelcycle.data._infer import infer_schema
from modelcycle.data._overrides import ColumnOverride, SchemaOverrides, load_schema_overrides
from modelcycle.data._profile import (
    QUANTILE_LEVELS,
    CategorySummary,
    ColumnProfile,
    DatetimeSummary,
    Histogram,
    NumericSummary,
    Profile,
    TextSummary,
    profile,
)
from modelcycle.data._read import TableSource, iter_batches, read_table
from modelcycle.data._report import Issue, Severity, ValidationReport
from modelcycle.data._split import train_test_split_frame
from modelcycle.data._task import check_target, detect_task
from modelcycle.data._validate import ValidationRules, validate

__all__ = [
    "QUANTILE_LEVELS",
    "CategorySummary",
    "ColumnOverride",
    "ColumnProfile",
    "DatasetFingerprint",
    "DatetimeSummary",
    "Histogram",
    "Issue",
    "NumericSummary",
    "Profile",
    "SchemaOverrides",
    "Severity",
    "TableSource",
    "TextSummary",
    "ValidationReport",
    "ValidationRules",
    "as_pandas",
    "as_pandas_series",
    "check_target",
    "detect_task",
    "fingerprint",
    "infer_schema",
    "is_data_frame",
    "iter_batches",
    "load_schema_overrides",
    "profile",
    "read_table",
    "train_test_split_frame",
    "validate",
]
