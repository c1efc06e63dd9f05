"""Layer 0: shared types, errors, settings, clock and identifiers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports
from modelcycle.core._clock import datetime_to_ms, ms_to_datetime, new_id, now_ms
from modelcycle.core._errors import (
    Conflict,
    IntegrityError,
    ModelcycleError,
    NotFound,
    PermissionDenied,
    ValidationError,
    WorkspaceError,
)
from modelcycle.core._names import (
    ALIAS,
    ARTIFACT_NAME,
    EXPERIMENT_NAME,
    MODEL_NAME,
    USER_NAME,
    NameRule,
)
from modelcycle.core._redact import is_conninfo, looks_like_database, redact_text, redact_url
from modelcycle.core._types import Column, ColumnKind, ModelRef, Schema, Task

if TYPE_CHECKING:
    from modelcycle.core._settings import Settings

# Settings loads pydantic and pydantic-settings (0.1 s): read on first use, so that
# ``modelcycle --help`` and the errors of the CLI do not pay for it.
__getattr__, __dir__ = lazy_exports(__name__, {"modelcycle.core._settings": ("Settings",)})

__all__ = [
    "ALIAS",
    "ARTIFACT_NAME",
    "EXPERIMENT_NAME",
    "MODEL_NAME",
    "USER_NAME",
    "Column",
    "ColumnKind",
    "Conflict",
    "IntegrityError",
    "ModelRef",
    "ModelcycleError",
    "NameRule",
    "NotFound",
    "PermissionDenied",
    "Schema",
    "Settings",
    "Task",
    "ValidationError",
    "WorkspaceError",
    "datetime_to_ms",
    "is_conninfo",
    "looks_like_database",
    "ms_to_datetime",
    "new_id",
    "now_ms",
    "redact_text",
    "redact_url",
]
