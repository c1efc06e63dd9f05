"""Layer 2: AutoML — portfolio and Optuna search under a time budget, ensemble selection."""

from __future__ import annotations

from modelcycle.automl._automl import AutoML
from modelcycle.automl._budget import Budget
from modelcycle.automl._ensemble import select_ensemble
from modelcycle.automl._executor import (
    LocalExecutor,
    TrialContext,
    TrialExecutor,
    TrialJob,
    execute_trial,
    reporting,
)
from modelcycle.automl._metric import SearchMetric
from modelcycle.automl._trial import TrialResult, plan_folds

__all__ = [
    "AutoML",
    "Budget",
    "LocalExecutor",
    "SearchMetric",
    "TrialContext",
    "TrialExecutor",
    "TrialJob",
    "TrialResult",
    "execute_trial",
    "plan_folds",
    "reporting",
    "select_ensemble",
]
