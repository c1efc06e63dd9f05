"""The result of validating a table before training: errors that stop it, warnings that don't."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelcycle.core import Task, ValidationError


class Severity(StrEnum):
    """How serious an issue is: an error stops training, a warning is reported."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding of :func:`validate`.

    ``code`` is a stable identifier (``"missing_target"``, ``"leakage"``...) for programs;
    ``message`` a sentence for people naming the column and values concerned; ``details``
    holds the same facts as JSON-ready values.
    """

    severity: Severity
    code: str
    message: str
    column: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "column": self.column,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Issue:
        """Build an issue from :meth:`to_dict` output."""
        return cls(
            severity=Severity(data["severity"]),
            code=str(data["code"]),
            message=str(data["message"]),
            column=data.get("column"),
            details=dict(data.get("details", {})),
        )


def error(code: str, message: str, column: str | None = None, **details: Any) -> Issue:
    """Build an error issue."""
    return Issue(Severity.ERROR, code, message, column, details)


def warning(code: str, message: str, column: str | None = None, **details: Any) -> Issue:
    """Build a warning issue."""
    return Issue(Severity.WARNING, code, message, column, details)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What :func:`validate` found: ``errors`` stop training, ``warnings`` do not.

    Examples
    --------
    >>> report = ValidationReport(rows=0, errors=(error("no_rows", "the table is empty"),))
    >>> report.ok
    False
    >>> report.to_dict()["errors"][0]["code"]
    'no_rows'
    """

    rows: int
    task: Task | None = None
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether there are no errors."""
        return not self.errors

    @property
    def issues(self) -> tuple[Issue, ...]:
        """Errors, then warnings."""
        return self.errors + self.warnings

    def codes(self) -> list[str]:
        """The codes of all issues, errors first."""
        return [issue.code for issue in self.issues]

    def raise_for_errors(self) -> None:
        """Raise one :class:`~modelcycle.core.ValidationError` listing every error, if any."""
        if not self.errors:
            return
        lines = "\n".join(f"- {issue.message}" for issue in self.errors)
        raise ValidationError(
            f"the data cannot be used for training; {len(self.errors)} error(s):\n{lines}",
            details={"errors": [issue.to_dict() for issue in self.errors]},
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rows": self.rows,
            "task": self.task.value if self.task is not None else None,
            "ok": self.ok,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Build a report from :meth:`to_dict` output."""
        task = data.get("task")
        return cls(
            rows=int(data["rows"]),
            task=Task(task) if task is not None else None,
            errors=tuple(Issue.from_dict(i) for i in data.get("errors", ())),
            warnings=tuple(Issue.from_dict(i) for i in data.get("warnings", ())),
        )
