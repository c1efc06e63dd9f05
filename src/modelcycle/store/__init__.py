"""Layer 3 storage: the workspace database, its migrations and the artifact store."""

from __future__ import annotations

from modelcycle.store import _tables as tables
from modelcycle.store._alerts import read_alerts
from modelcycle.store._artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    StoredBlob,
    open_artifact_store,
)
from modelcycle.store._db import Database, ensure_folder, normalize_url
from modelcycle.store._files import (
    FILE_MODE,
    FOLDER_MODE,
    create_private,
    private_folder,
    private_writer,
    write_private,
)
from modelcycle.store._logs import (
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    LogLayout,
    inputs_json,
    segment_glob,
    write_segment,
)
from modelcycle.store._migrate import current_revision, ensure_current, head_revision, upgrade
from modelcycle.store._object_logs import ObjectLogs
from modelcycle.store._objects import ObjectArtifactStore

__all__ = [
    "FEEDBACK_SCHEMA",
    "FILE_MODE",
    "FOLDER_MODE",
    "PREDICTION_SCHEMA",
    "ArtifactStore",
    "Database",
    "LocalArtifactStore",
    "LogLayout",
    "ObjectArtifactStore",
    "ObjectLogs",
    "StoredBlob",
    "create_private",
    "current_revision",
    "ensure_current",
    "ensure_folder",
    "head_revision",
    "inputs_json",
    "normalize_url",
    "open_artifact_store",
    "private_folder",
    "private_writer",
    "read_alerts",
    "segment_glob",
    "tables",
    "upgrade",
    "write_private",
    "write_segment",
]
