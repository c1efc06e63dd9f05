"""Layer 4: monitoring a served model — data and prediction drift against its reference.

The training run of every model version keeps a reference profile
(:class:`modelcycle.data.Profile`); :func:`drift_report` compares a window of logged
rows with it, column by column, and gives a dataset-level verdict with
multiple-testing control.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from modelcycle.data import Profile, infer_schema
>>> from modelcycle.monitoring import drift_report
>>> rng = np.random.default_rng(0)
>>> train = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
>>> reference = Profile.from_frame(train, infer_schema(train))
>>> window = pd.DataFrame({"x": rng.normal(1.0, size=500), "c": rng.choice(["a", "b"], 500)})
>>> report = drift_report(reference, window)
>>> report.drifted, report.drifted_columns
(True, ['x'])
"""

from __future__ import annotations

from modelcycle.monitoring.drift import (
    ChiSquareDetector,
    ColumnDrift,
    ColumnWindow,
    DriftDetector,
    DriftReport,
    DriftResult,
    JensenShannonDetector,
    KSDetector,
    MissingRateDetector,
    NewCategoryDetector,
    PSIDetector,
    WassersteinDetector,
    adjust_pvalues,
    drift_report,
)

__all__ = [
    "ChiSquareDetector",
    "ColumnDrift",
    "ColumnWindow",
    "DriftDetector",
    "DriftReport",
    "DriftResult",
    "JensenShannonDetector",
    "KSDetector",
    "MissingRateDetector",
    "NewCategoryDetector",
    "PSIDetector",
    "WassersteinDetector",
    "adjust_pvalues",
    "drift_report",
]
