"""What MLflow's words mean in modelcycle's tracking: one owner for the MLflow REST API
(``serving``) and the MLflow importer (``importing``).

- MLflow's default experiment (id ``"0"``, named ``Default``) is modelcycle's
  ``default`` experiment.
- MLflow's system tags fill a run's own columns: ``mlflow.runName`` its name,
  ``mlflow.user`` its user, ``mlflow.source.name`` its source,
  ``mlflow.source.git.commit`` its git commit, ``mlflow.parentRunId`` its parent.
- A run's status is MLflow's, a ``SCHEDULED`` run being ``RUNNING``.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelcycle.core import ValidationError


@dataclass(frozen=True)
class MlflowNames:
    """MLflow's names for modelcycle's tracking facts (see the module docstring)."""

    default_experiment_id: str = "0"
    default_experiment_name: str = "Default"
    run_name_tag: str = "mlflow.runName"
    user_tag: str = "mlflow.user"
    source_tag: str = "mlflow.source.name"
    git_commit_tag: str = "mlflow.source.git.commit"
    parent_tag: str = "mlflow.parentRunId"
    dataset_context_tag: str = "mlflow.data.context"

    def status(self, status: str) -> str:
        """modelcycle's status for MLflow's ``status``."""
        found = _STATUSES.get(status)
        if found is None:
            raise ValidationError(
                f"run status {status[:40]!r} is not known; expected one of {', '.join(_STATUSES)}"
            )
        return found


_STATUSES = {
    "RUNNING": "RUNNING",
    "SCHEDULED": "RUNNING",
    "FINISHED": "FINISHED",
    "FAILED": "FAILED",
    "KILLED": "KILLED",
}
#: The one instance: ``MLFLOW.user_tag``, ``MLFLOW.status("SCHEDULED")``.
MLFLOW = MlflowNames()
