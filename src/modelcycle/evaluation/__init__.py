"""Layer 2: holdout evaluation — metrics with intervals, diagnostics, error analysis, reports.

Works on arrays and callables only: class codes ``0..k-1`` with optional display
labels, probabilities or predictions, and a ``predict_fn`` for permutation
importance. :func:`build_report` does everything in one call; the resulting
:class:`EvaluationReport` is stored with a run as JSON and as one self-contained
HTML page.

Examples
--------
>>> import numpy as np
>>> from modelcycle import evaluation
>>> y = np.array([0, 0, 1, 1, 0, 1])
>>> proba = np.array([0.2, 0.3, 0.8, 0.6, 0.7, 0.9])
>>> evaluation.score("binary", y, proba=proba)["accuracy"]
0.8333333333333334
>>> evaluation.choose_threshold(y, proba).best_f1_threshold
0.6
>>> report = evaluation.build_report("binary", y, proba, n_boot=100)
>>> sorted(report.artifacts())
['evaluation.html', 'evaluation.json']
"""

from __future__ import annotations

from modelcycle.evaluation._build import build_report
from modelcycle.evaluation._classification import (
    BinaryCurves,
    Calibration,
    CalibrationBin,
    ConfusionMatrix,
    ThresholdChoice,
    ThresholdRow,
    binary_curves,
    calibration_curve,
    choose_threshold,
    confusion_matrix,
)
from modelcycle.evaluation._importance import (
    Contribution,
    ContributionSummary,
    FeatureContribution,
    FeatureImportance,
    PermutationImportance,
    PredictFn,
    permutation_importance,
    summarise_contributions,
    top_contributions,
)
from modelcycle.evaluation._inputs import Outcome, prepare_output
from modelcycle.evaluation._metric_table import (
    DEFAULT_METRIC,
    METRIC_TABLE,
    MetricSpec,
    default_metric,
    greater_is_better,
    metric_spec,
    metrics_for,
)
from modelcycle.evaluation._metrics import (
    METRICS,
    bootstrap_intervals,
    metric_value,
    score,
)
from modelcycle.evaluation._regression import Residuals, residual_summary
from modelcycle.evaluation._report import EvaluationReport
from modelcycle.evaluation._slices import Slice, row_errors, worst_slices

__all__ = [
    "DEFAULT_METRIC",
    "METRICS",
    "METRIC_TABLE",
    "BinaryCurves",
    "Calibration",
    "CalibrationBin",
    "ConfusionMatrix",
    "Contribution",
    "ContributionSummary",
    "EvaluationReport",
    "FeatureContribution",
    "FeatureImportance",
    "MetricSpec",
    "Outcome",
    "PermutationImportance",
    "PredictFn",
    "Residuals",
    "Slice",
    "ThresholdChoice",
    "ThresholdRow",
    "binary_curves",
    "bootstrap_intervals",
    "build_report",
    "calibration_curve",
    "choose_threshold",
    "confusion_matrix",
    "default_metric",
    "greater_is_better",
    "metric_spec",
    "metric_value",
    "metrics_for",
    "permutation_importance",
    "prepare_output",
    "residual_summary",
    "row_errors",
    "score",
    "summarise_contributions",
    "top_contributions",
    "worst_slices",
]
