"""modelcycle: the whole job of an AI developer, as one tool.

>>> import modelcycle as mc
>>> mc.__version__  # doctest: +SKIP
'0.1.0'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports
from modelcycle._version import __version__

if TYPE_CHECKING:
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

# Every module of modelcycle (the CLI's too) imports this package first: the names are
# loaded on first use, so ``modelcycle --version`` does not load pandas and SQLAlchemy.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "modelcycle.core": (
            "Conflict",
            "IntegrityError",
            "ModelcycleError",
            "ModelRef",
            "NotFound",
            "PermissionDenied",
            "Schema",
            "Settings",
            "Task",
            "ValidationError",
            "WorkspaceError",
        ),
        "modelcycle.data": ("DatasetFingerprint", "fingerprint"),
        "modelcycle.tracking": ("ActiveRun", "Run"),
        "modelcycle.workspace": ("Workspace",),
    },
)

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
