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

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports

if TYPE_CHECKING:
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

# Loaded on first use: 'train --target' is checked against the file's header without loading
# the profile, the fingerprints and SQLAlchemy.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "modelcycle.data._fingerprint": ("DatasetFingerprint", "fingerprint"),
        "modelcycle.data._frames": ("as_pandas", "as_pandas_series", "is_data_frame"),
        "modelcycle.data._infer": ("infer_schema",),
        "modelcycle.data._overrides": (
            "ColumnOverride",
            "SchemaOverrides",
            "load_schema_overrides",
        ),
        "modelcycle.data._profile": (
            "QUANTILE_LEVELS",
            "CategorySummary",
            "ColumnProfile",
            "DatetimeSummary",
            "Histogram",
            "NumericSummary",
            "Profile",
            "TextSummary",
            "profile",
        ),
        "modelcycle.data._read": ("TableSource", "iter_batches", "read_table"),
        "modelcycle.data._report": ("Issue", "Severity", "ValidationReport"),
        "modelcycle.data._split": ("train_test_split_frame",),
        "modelcycle.data._task": ("check_target", "detect_task"),
        "modelcycle.data._validate": ("ValidationRules", "validate"),
    },
)

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
