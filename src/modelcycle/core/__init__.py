"""Layer 0: shared types, errors, settings, clock and identifiers."""

from __future__ import annotations

from modelcycle.core._clock import ms_to_datetime, new_id, now_ms
from modelcycle.core._errors import (
    Conflict,
    IntegrityError,
    ModelcycleError,
    NotFound,
    PermissionDenied,
    ValidationError,
    WorkspaceError,
)
from modelcycle.core._settings import Settings
from modelcycle.core._types import Column, ColumnKind, ModelRef, Schema, Task

__all__ = [
    "Column",
    "ColumnKind",
    "Conflict",
    "IntegrityError",
    "ModelRef",
    "ModelcycleError",
    "NotFound",
    "PermissionDenied",
    "Schema",
    "Settings",
    "Task",
    "ValidationError",
    "WorkspaceError",
    "ms_to_datetime",
    "new_id",
    "now_ms",
]
