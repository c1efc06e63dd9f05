"""Rendering for the CLI: Rich tables for people, ``--json`` for programs."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from modelcycle.core import ModelcycleError

#: Exit codes of outcomes that are not errors (errors use ``ModelcycleError.exit_code``).
ALERT_EXIT_CODE = 8  # 'monitor --fail-on-alert': an alert fired
REJECTED_EXIT_CODE = 9  # 'score': some rows were rejected (see the reject file)

console = Console(soft_wrap=False)
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (datetimes as ISO 8601)."""
    sys.stdout.write(
        orjson.dumps(
            data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )


def print_error(error: ModelcycleError | str) -> None:
    """One red line on stderr."""
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)


def when(value: datetime | None) -> str:
    """A local date and time for tables (with the year: an expiry may be years away)."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def number(value: float | None) -> str:
    """A metric value with enough digits to compare runs."""
    if value is None:
        return "-"
    return f"{value:.6g}"


def duration(seconds: float | None) -> str:
    """``12.3s``, ``4m05s`` or ``-`` for runs still going."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


STATUS_STYLE = {"FINISHED": "green", "FAILED": "red", "RUNNING": "yellow", "KILLED": "magenta"}


def status(value: str) -> str:
    """A run status, coloured."""
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"


def table(
    title: str | None, columns: list[str], rows: list[list[str]], *, wrap_last: bool = False
) -> Table:
    """A Rich table with the house look; ``wrap_last`` lets the last column wrap."""
    result = Table(title=title, header_style="bold cyan", title_justify="left", expand=False)
    for index, column in enumerate(columns):
        # The first column identifies the row (a run id to copy): never cut it short.
        widest = max((len(row[0]) for row in rows), default=0) if index == 0 else 0
        width = max(widest, min(len(column), 9))
        last = wrap_last and index == len(columns) - 1
        result.add_column(
            column, no_wrap=not last, overflow="fold" if last else "ellipsis", min_width=width
        )
    for row in rows:
        result.add_row(*row)
    return result
