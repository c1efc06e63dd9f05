"""What an import brought in, and what it left out and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImportSummary:
    """Counts of what was imported, what was already there, and each thing left out.

    ``imported`` counts ``experiments``, ``runs``, ``params``, ``metric values``,
    ``tags``, ``artifacts``, ``model versions`` and ``aliases``; ``already`` counts what
    an earlier import brought in (skipped); ``left_out`` says, for each thing not
    imported, what it was and why.
    """

    source: str
    imported: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    left_out: list[str] = field(default_factory=list)

    def skip(self, what: str, why: str) -> None:
        """Record that ``what`` was not imported, and why."""
        self.left_out.append(f"{what}: {why}")

    @property
    def nothing_new(self) -> bool:
        """Whether this import brought in nothing (all was there already)."""
        return not any(self.imported.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "source": self.source,
            "imported": dict(self.imported),
            "already_imported": dict(self.already),
            "not_imported": list(self.left_out),
        }
