"""MLflow 3's logged models, kept with the run that made them.

``mlflow.<flavor>.log_model`` (and autologging) first creates a *logged model*, then
uploads the model's files to its artifact location and links it to the run. Here a
logged model belongs to its source run: its id is ``m-<run id>-<8 hex>``, its files are
the run's artifacts under ``models/<model id>/`` and its description (name, type,
status, params, tags) is the run's artifact ``mlflow-logged-models/<model id>.json``,
which MLflow's artifact listings do not show. A logged model without a source run is
refused: modelcycle keeps every artifact with a run.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from modelcycle.core import NotFound, ValidationError, now_ms
from modelcycle.serving._mlflow._entities import ARTIFACT_SCHEME, key_values
from modelcycle.tracking import Tracker

#: The run folder holding logged models' descriptions (hidden from MLflow's listings).
DESCRIPTIONS = "mlflow-logged-models"
#: The run folder holding logged models' files.
MODEL_FILES = "models"
STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
_MODEL_ID = re.compile(r"m-([0-9a-f]{32})-[0-9a-f]{8}")


def run_of(model_id: str) -> str:
    """The run a logged model belongs to, from its id.

    Raises
    ------
    NotFound
        ``model_id`` is not the id of a logged model of this server.
    """
    match = _MODEL_ID.fullmatch(model_id)
    if match is None:
        raise NotFound(
            f"no logged model has id {model_id[:80]!r}; expected an id this server gave "
            "(m-<run id>-<8 hex>)"
        )
    return match.group(1)


class LoggedModels:
    """Creates, reads and changes logged models (descriptions stored as run artifacts)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def create(
        self,
        experiment_id: str,
        run_id: str | None,
        *,
        name: str | None,
        model_type: str | None,
        params: dict[str, str],
        tags: dict[str, str],
        creator: str | None,
    ) -> dict[str, Any]:
        """A new logged model of ``run_id``, pending its files."""
        if not run_id:
            raise ValidationError(
                "a logged model needs source_run_id: modelcycle keeps models with the runs "
                "that made them; log the model inside a run (mlflow.start_run())"
            )
        self.tracker.store.get_run_row(run_id)  # NotFound
        model_id = f"m-{run_id}-{uuid.uuid4().hex[:8]}"
        now = now_ms()
        description = {
            "model_id": model_id,
            "experiment_id": experiment_id,
            "name": name or "model",
            "artifact_uri": (
                f"{ARTIFACT_SCHEME}/{experiment_id}/{run_id}/artifacts/{MODEL_FILES}/{model_id}"
            ),
            "creation_timestamp_ms": now,
            "last_updated_timestamp_ms": now,
            "model_type": model_type or "",
            "source_run_id": run_id,
            "status": "LOGGED_MODEL_PENDING",
            "creator": creator or "",  # ours (MLflow's creator_id is a number)
            "tags": tags,
            "params": params,
        }
        self._save(description)
        return description

    def get(self, model_id: str) -> dict[str, Any]:
        """A logged model's description."""
        run_id = run_of(model_id)
        try:
            data = self.tracker.read_artifact(run_id, f"{DESCRIPTIONS}/{model_id}.json")
        except NotFound:
            raise NotFound(f"no logged model has id {model_id!r}") from None
        found: dict[str, Any] = json.loads(data)
        return found

    def change(self, model_id: str, **changes: Any) -> dict[str, Any]:
        """Set ``status``, or merge ``tags``/``params`` (dicts) into a logged model."""
        description = self.get(model_id)
        status = changes.get("status")
        if status is not None:
            if status not in STATUSES:
                raise ValidationError(
                    f"logged model status {status!r} is not known; expected one of {STATUSES}"
                )
            description["status"] = status
        for field in ("tags", "params"):
            description[field].update(changes.get(field) or {})
        for key in changes.get("deleted_tags") or ():
            description["tags"].pop(key, None)
        description["last_updated_timestamp_ms"] = now_ms()
        self._save(description)
        return description

    def of_run(self, run_id: str) -> list[str]:
        """The ids of the logged models of a run."""
        prefix = f"{DESCRIPTIONS}/"
        return [
            row["path"][len(prefix) : -len(".json")]
            for row in self.tracker.store.artifacts_of(run_id)
            if row["path"].startswith(prefix) and row["path"].endswith(".json")
        ]

    def search(self, run_ids: list[str], text: str | None) -> list[dict[str, Any]]:
        """The logged models of these runs passing ``text`` (``name = 'x' AND ...``), oldest
        first."""
        wanted = _conditions(text)
        found = []
        for row in self.tracker.store.artifacts_under(run_ids, DESCRIPTIONS):
            data = self.tracker.artifacts.read_bytes(
                row["sha256"], size=row["size"], name=row["path"]
            )
            description = json.loads(data)
            if all(str(description.get(key)) == value for key, value in wanted):
                found.append(description)
        return sorted(found, key=lambda d: (d["creation_timestamp_ms"], d["model_id"]))

    def _save(self, description: dict[str, Any]) -> None:
        data = json.dumps(description, sort_keys=True).encode()
        run_id = description["source_run_id"]
        self.tracker.log_artifact_bytes(
            run_id, data, f"{DESCRIPTIONS}/{description['model_id']}.json"
        )


_CONDITION = re.compile(r"\s*(name|source_run_id|model_type|status)\s*=\s*'((?:[^'\\]|\\.)*)'\s*")


def _conditions(text: str | None) -> list[tuple[str, str]]:
    """``[(field, value)]`` of a logged-model filter: equalities joined by AND."""
    if not text or not text.strip():
        return []
    found = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise ValidationError(
                f"logged-model filter {text[:200]!r} is not supported; expected equalities "
                "of name, source_run_id, model_type or status joined by AND, e.g. "
                "\"name = 'model'\""
            )
        found.append((match.group(1), match.group(2).replace("\\'", "'")))
    return found


def logged_model_json(description: dict[str, Any]) -> dict[str, Any]:
    """An MLflow ``LoggedModel``."""
    info = {k: v for k, v in description.items() if k not in ("tags", "params", "creator")}
    info["tags"] = key_values(description["tags"])
    info["registrations"] = []
    return {"info": info, "data": {"params": key_values(description["params"]), "metrics": []}}
