"""modelcycle: the whole job of an AI developer, as one tool.

>>> import modelcycle as mc
>>> mc.__version__  # doctest: +SKIP
'0.1.0'
"""

from __future__ import annotations

from modelcycle._version import __version__
from modelcycle.core import (
    Conflict,
    IntegrityError,
    ModelcycleError,
    ModelRef,
    NotFound,
    PermissionDenied,
    Schema,
    Settings,
    Task,
    ValidationError,
    WorkspaceError,
)
from modelcycle.data import DatasetFingerprint, fingerprint
from modelcycle.tracking import ActiveRun, Run
from modelcycle.workspace import Workspace

__all__ = [
    "ActiveRun",
    "Conflict",
    "DatasetFingerprint",
    "IntegrityError",
    "ModelRef",
    "ModelcycleError",
    "NotFound",
    "PermissionDenied",
    "Run",
    "Schema",
    "Settings",
    "Task",
    "ValidationError",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "fingerprint",
]
