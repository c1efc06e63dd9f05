"""modelcycle's tracking as MLflow's REST API spells it: experiments, runs, metrics.

- An experiment's MLflow id is its modelcycle id as text; modelcycle's ``default``
  experiment is also MLflow's default experiment ``"0"`` (where ``mlflow.start_run()``
  logs without ``set_experiment``).
- A run keeps its id (32 hexadecimal characters in both); its artifacts live at
  ``mlflow-artifacts:/<experiment id>/<run id>/artifacts``, served by this server's
  ``/api/2.0/mlflow-artifacts`` routes (:mod:`._artifacts`).
- MLflow's system tags ``mlflow.runName``, ``mlflow.user``, ``mlflow.source.name``,
  ``mlflow.source.git.commit`` and ``mlflow.parentRunId`` fill the run's own name,
  user, source, git commit and parent; every tag is also kept as a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelcycle.core import NotFound, ValidationError
from modelcycle.tracking import DEFAULT_EXPERIMENT, MLFLOW

#: MLflow's id of its default experiment.
DEFAULT_ID = MLFLOW.default_experiment_id
RUN_NAME, USER, SOURCE, GIT_COMMIT, PARENT = (
    MLFLOW.run_name_tag,
    MLFLOW.user_tag,
    MLFLOW.source_tag,
    MLFLOW.git_commit_tag,
    MLFLOW.parent_tag,
)
#: Where a run's artifacts are, as MLflow's client resolves them against this server.
ARTIFACT_SCHEME = "mlflow-artifacts:"


class Experiments:
    """MLflow ids and names of the workspace's experiments, read once per request."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.by_id = {str(row["experiment_id"]): row for row in rows}
        self.by_name = {row["name"]: row for row in rows}

    def mlflow_id(self, name: str) -> str:
        """The MLflow id of the experiment named ``name``."""
        if name == DEFAULT_EXPERIMENT:
            return DEFAULT_ID
        return str(self.by_name[name]["experiment_id"])

    def name_of(self, experiment_id: str) -> str:
        """The name of MLflow's experiment ``experiment_id`` (``"0"``: ``default``)."""
        if experiment_id == DEFAULT_ID:
            return DEFAULT_EXPERIMENT
        row = self.by_id.get(experiment_id)
        if row is None:
            raise NotFound(
                f"no experiment has id {experiment_id[:40]!r}; list them with "
                "'modelcycle experiments list' or mlflow.search_experiments()"
            )
        return str(row["name"])


def experiment_json(row: Mapping[str, Any], mlflow_id: str) -> dict[str, Any]:
    """An MLflow ``Experiment``."""
    updated = row.get("last_run") or row["created_at"]
    return {
        "experiment_id": mlflow_id,
        "name": row["name"],
        "artifact_location": f"{ARTIFACT_SCHEME}/{mlflow_id}",
        "lifecycle_stage": "active",
        "creation_time": row["created_at"],
        "last_update_time": updated,
        "tags": [],
    }


def default_experiment_row(created_at: int) -> dict[str, Any]:
    """The default experiment before anything was logged into it."""
    return {"name": DEFAULT_EXPERIMENT, "created_at": created_at, "last_run": None}


def artifact_uri(experiment_id: str, run_id: str) -> str:
    """Where MLflow's client reads and writes a run's artifacts."""
    return f"{ARTIFACT_SCHEME}/{experiment_id}/{run_id}/artifacts"


def run_info_json(row: Mapping[str, Any], experiment_id: str) -> dict[str, Any]:
    """An MLflow ``RunInfo`` from a run's row."""
    info = {
        "run_id": row["run_id"],
        "run_uuid": row["run_id"],
        "run_name": row["name"],
        "experiment_id": experiment_id,
        "user_id": row["user_name"] or "",
        "status": row["status"],
        "start_time": row["start_time"],
        "artifact_uri": artifact_uri(experiment_id, row["run_id"]),
        "lifecycle_stage": "active",
    }
    if row["end_time"] is not None:
        info["end_time"] = row["end_time"]
    return info


def key_values(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """MLflow's ``[{"key", "value"}]`` list, by key."""
    return [{"key": key, "value": values[key]} for key in sorted(values)]


def metric_json(key: str, value: float, step: int, timestamp: int) -> dict[str, Any]:
    """An MLflow ``Metric``."""
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def pairs(items: list[Any] | None, what: str) -> dict[str, str]:
    """``[{"key", "value"}]`` as a dict; a key given twice keeps its last value."""
    found: dict[str, str] = {}
    for index, item in enumerate(items or ()):
        key, value = item.key, item.value
        if not isinstance(key, str) or not key:
            raise ValidationError(f"{what}[{index}] has no key; expected a non-empty 'key'")
        found[key] = value if value is not None else ""
    return found


def system_values(tags: Mapping[str, str]) -> dict[str, str | None]:
    """The run columns MLflow's system tags fill."""
    return {
        "name": tags.get(RUN_NAME),
        "user": tags.get(USER),
        "source": tags.get(SOURCE),
        "git_commit": tags.get(GIT_COMMIT),
        "parent_run_id": tags.get(PARENT),
    }
