"""Layer 4 importing: bring what users have in other tools into a workspace.

:func:`import_mlflow` copies an MLflow store (experiments, runs with params, metric
histories, tags and artifacts, registered models with their versions and aliases),
idempotently, and says in an :class:`ImportSummary` what it brought in and what it left
out. Pickled models are never loaded unless the caller says it trusts them.
"""

from __future__ import annotations

from modelcycle.importing._mlflow import IMPORTED_TAG, experiment_name, import_mlflow
from modelcycle.importing._summary import ImportSummary

__all__ = ["IMPORTED_TAG", "ImportSummary", "experiment_name", "import_mlflow"]
