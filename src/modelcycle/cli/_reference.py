"""Reference pages generated from the code: every command's ``--help`` and every setting.

``python -m modelcycle.cli._reference docs/`` rewrites ``docs/cli.md`` and
``docs/settings.md``; a test fails when they are stale, so nothing goes undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from modelcycle.cli._app import app
from modelcycle.core import Settings


def _plain_help(command: Any, ctx: Any) -> str:
    # Plain text, not Rich boxes: stable across terminals and readable in Markdown.
    mode = command.rich_markup_mode
    command.rich_markup_mode = None
    try:
        return str(command.get_help(ctx)).rstrip()
    finally:
        command.rich_markup_mode = mode


def _walk(command: Any, ctx: Any, path: list[str]) -> list[tuple[str, str]]:
    pages = [(" ".join(path), _plain_help(command, ctx))]
    if hasattr(command, "list_commands"):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = type(ctx)(sub, info_name=name, parent=ctx, terminal_width=100)
            pages.extend(_walk(sub, sub_ctx, [*path, name]))
    return pages


def cli_reference() -> str:
    """Markdown with the ``--help`` of every command."""
    root = typer.main.get_command(app)
    ctx = root.make_context("modelcycle", ["--help"], resilient_parsing=True)
    ctx.terminal_width = 100
    parts = ["# Command-line reference", "", "Generated from `--help`; do not edit by hand.", ""]
    for path, text in _walk(root, ctx, ["modelcycle"]):
        parts += [f"## `{path}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


def settings_reference() -> str:
    """Markdown table of every setting: environment variable, type, default, help."""
    rows = ["| environment variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        annotation = str(field.annotation).replace("typing.", "").replace("<class '", "")
        annotation = annotation.replace("'>", "").replace("pathlib.", "").replace("|", "or")
        default = "" if field.default is None else f"`{field.default}`"
        rows.append(
            f"| `MODELCYCLE_{name.upper()}` | {annotation} | {default} | {field.description} |"
        )
    intro = [
        "# Settings",
        "",
        "Generated from `modelcycle.core.Settings`; do not edit by hand. Each setting is read",
        "from its environment variable when a workspace is opened, or passed to",
        "`mc.Settings(...)` / `mc.Workspace(settings=...)`.",
        "",
    ]
    return "\n".join([*intro, *rows, ""])


def write(folder: Path) -> None:
    """Write ``cli.md`` and ``settings.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cli.md").write_text(cli_reference())
    (folder / "settings.md").write_text(settings_reference())


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
