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

from modelcycle.monitoring._alerts import Alert
from modelcycle.monitoring._cbpe import CBPE, estimated_performance
from modelcycle.monitoring._health import VersionHealth, service_health
from modelcycle.monitoring._history import drift_history
from modelcycle.monitoring._labels import count_feedback, read_feedback, read_labelled
from modelcycle.monitoring._logread import read_predictions
from modelcycle.monitoring._monitor import monitor
from modelcycle.monitoring._monitor_report import MonitorReport, MonitorWindow
from modelcycle.monitoring._performance import realized_performance
from modelcycle.monitoring._rules import AlertRule, parse_rules
from modelcycle.monitoring._run import MonitoringPass, run_monitoring
from modelcycle.monitoring._sinks import (
    AlertSink,
    DatabaseSink,
    LogSink,
    WebhookSink,
    recent_alerts,
)
from modelcycle.monitoring.drift import (
    ChiSquareDetector,
    ColumnDrift,
    DriftDetector,
    DriftReport,
    DriftResult,
    JensenShannonDetector,
    KSDetector,
    MissingRateDetector,
    NewCategoryDetector,
    PSIDetector,
    WassersteinDetector,
    drift_report,
)

__all__ = [
    "CBPE",
    "Alert",
    "AlertRule",
    "AlertSink",
    "ChiSquareDetector",
    "ColumnDrift",
    "DatabaseSink",
    "DriftDetector",
    "DriftReport",
    "DriftResult",
    "JensenShannonDetector",
    "KSDetector",
    "LogSink",
    "MissingRateDetector",
    "MonitorReport",
    "MonitorWindow",
    "MonitoringPass",
    "NewCategoryDetector",
    "PSIDetector",
    "VersionHealth",
    "WassersteinDetector",
    "WebhookSink",
    "count_feedback",
    "drift_history",
    "drift_report",
    "estimated_performance",
    "monitor",
    "parse_rules",
    "read_feedback",
    "read_labelled",
    "read_predictions",
    "realized_performance",
    "recent_alerts",
    "run_monitoring",
    "service_health",
]
