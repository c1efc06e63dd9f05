"""Drift per feature over time: each recorded monitoring pass adds one entry.

The latest report (``monitor.json``) says how each feature drifts now; the dashboard's
chart of drift over time reads ``drift_history.jsonl`` beside it, one JSON line per
pass recorded in the workspace (the time, the version, and each feature's drift
statistics and verdict). The file keeps the last :data:`MAX_PASSES` passes and is
rewritten whole under a temporary name, so a reader never sees half a line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from modelcycle.store import LogLayout, write_private

HISTORY_FILE = "drift_history.jsonl"
#: Passes kept (one every five minutes: about 40 hours).
MAX_PASSES = 500


def record_drift(folder: Path | str, report: dict[str, Any]) -> None:
    """Add the drift of one monitoring pass (a report's ``to_dict()``) to the history."""
    columns = ((report.get("drift") or {}).get("columns")) or []
    entry = {
        "time": report.get("created"),
        "version": report.get("version"),
        "features": {
            str(column["name"]): {
                "drifted": bool(column.get("drifted")),
                "statistics": {
                    name: result.get("statistic")
                    for name, result in (column.get("results") or {}).items()
                    if isinstance(result, dict)
                },
            }
            for column in columns
            if isinstance(column, dict) and "name" in column
        },
    }
    path = Path(folder) / HISTORY_FILE
    kept = _lines(path)[-(MAX_PASSES - 1) :] if MAX_PASSES > 1 else []
    kept.append(orjson.dumps(entry))
    write_private(path, b"\n".join(kept) + b"\n")


def drift_history(layout: LogLayout, model: str) -> list[dict[str, Any]]:
    """The recorded passes of ``model``, oldest first (a damaged line is skipped)."""
    found = []
    for line in _lines(layout.reports_of(model) / HISTORY_FILE):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("features"), dict):
            found.append(entry)
    return found


def _lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().splitlines() if line.strip()]
    except (FileNotFoundError, NotADirectoryError):
        return []
