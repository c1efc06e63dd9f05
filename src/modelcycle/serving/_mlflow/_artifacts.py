"""A run's artifacts as MLflow's proxied artifact service serves them.

MLflow's client resolves ``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`` to
``<tracking uri>/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>``
and ``PUT``s a file there, ``GET``s it back, and lists a folder with
``GET .../artifacts?path=<experiment>/<run>/artifacts/<folder>``. Here each file becomes
an artifact of the run in the workspace's content-addressed store (verified by SHA-256
when read), under the name the artifact rules allow; nothing is ever deleted.
"""

from __future__ import annotations

from typing import Any

from modelcycle.core import NotFound, ValidationError
from modelcycle.serving._mlflow._models import DESCRIPTIONS
from modelcycle.tracking import Tracker, check_run_id

#: The part of an artifact location between the run id and the artifact's path.
_ARTIFACTS = "artifacts"


def locate(path: str) -> tuple[str, str]:
    """``(run id, artifact path)`` of ``<experiment>/<run>/artifacts[/<path>]``
    (the path ``""`` for the run's root).

    Raises
    ------
    NotFound
        The path is not inside a run's artifacts.
    """
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[2] != _ARTIFACTS:
        raise NotFound(
            f"artifact location {path[:200]!r} is not inside a run's artifacts; expected "
            "'<experiment id>/<run id>/artifacts/<path>'"
        )
    try:
        run_id = check_run_id(parts[1])
    except ValidationError as error:
        raise NotFound(error.message) from None
    return run_id, "/".join(parts[3:])


def _check_writable(name: str) -> str:
    if not name:
        raise ValidationError("an artifact needs a file name after '.../artifacts/'")
    if name == DESCRIPTIONS or name.startswith(DESCRIPTIONS + "/"):
        raise ValidationError(
            f"artifact names under {DESCRIPTIONS!r} are kept for logged models' descriptions"
        )
    return name


class Artifacts:
    """Writes, reads and lists runs' artifacts for MLflow's client.

    Thread-safety: share freely (the artifact store writes each file atomically).
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def upload(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` (a run's artifact; logging it again replaces it)."""
        run_id, name = locate(path)
        self.tracker.store.get_run_row(run_id)  # NotFound
        self.tracker.log_artifact_bytes(run_id, data, _check_writable(name))

    def download(self, path: str) -> bytes:
        """The verified content of the artifact at ``path``."""
        run_id, name = locate(path)
        if not name:
            raise NotFound(f"{path[:200]!r} is a run's artifact folder, not a file")
        return self.tracker.read_artifact(run_id, name)

    def listing(self, path: str) -> list[dict[str, Any]]:
        """The files and folders directly inside ``path`` (none for a file)."""
        run_id, folder = locate(path)
        self.tracker.store.get_run_row(run_id)  # NotFound
        return children(self.tracker.store.artifacts_of(run_id), folder)


def children(rows: list[dict[str, Any]], folder: str) -> list[dict[str, Any]]:
    """MLflow's ``FileInfo`` of each file and folder directly inside ``folder``."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        path = row["path"]
        if not path.startswith(prefix) or path.startswith(DESCRIPTIONS + "/"):
            continue
        name, slash, _ = path[len(prefix) :].partition("/")
        if slash:
            found.setdefault(name, {"path": name, "is_dir": True})
        else:
            found[name] = {"path": name, "is_dir": False, "file_size": row["size"]}
    return [found[name] for name in sorted(found)]
