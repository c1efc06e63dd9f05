"""The one error hierarchy of modelcycle.

Every error a user can cause derives from :class:`ModelcycleError` and from the
builtin exception a caller would already catch (as scikit-learn's
``NotFittedError`` is a ``ValueError``). Messages say what was expected, what
arrived, and what to do next.
"""

from __future__ import annotations

from typing import Any


class ModelcycleError(Exception):
    """Root of every error raised on purpose by modelcycle.

    Parameters
    ----------
    message:
        One sentence naming the object, what was expected and what arrived.
    details:
        Machine-readable context (field names, values) for JSON error bodies.
    """

    #: Process exit code the CLI uses for this kind of error.
    exit_code: int = 1
    #: Short stable code used in JSON error bodies.
    code: str = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class ValidationError(ModelcycleError, ValueError):
    """An input (argument, file, column, value, filter) is not what was expected."""

    exit_code = 2
    code = "invalid"


class NotFound(ModelcycleError, LookupError):
    """A named thing (run, experiment, artifact, model) does not exist."""

    exit_code = 3
    code = "not_found"


class Conflict(ModelcycleError):
    """The request contradicts the current state (e.g. re-logging a param)."""

    exit_code = 4
    code = "conflict"


class PermissionDenied(ModelcycleError, PermissionError):
    """The caller may not do this."""

    exit_code = 5
    code = "permission_denied"


class IntegrityError(ModelcycleError):
    """Stored content does not match its recorded hash (tampered or truncated)."""

    exit_code = 6
    code = "integrity"


class WorkspaceError(ModelcycleError, OSError):
    """The workspace cannot be opened: bad URL, unreachable database, unwritable folder."""

    exit_code = 7
    code = "workspace"
