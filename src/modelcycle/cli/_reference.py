"""Reference pages generated from the code: every command's ``--help`` and every setting.

``python -m modelcycle.cli._reference docs/`` rewrites ``docs/cli.md``,
``docs/metrics.md`` (the evaluation metric table) and ``docs/settings.md`` (the
workspace's :class:`~modelcycle.core.Settings` and the prediction server's
:class:`~modelcycle.serving.ServeSettings`); a test fails when they are stale, so
nothing goes undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices

from modelcycle.cli._app import build_command
from modelcycle.cli._settings_options import setting_options
from modelcycle.core import Settings
from modelcycle.serving import ServeSettings


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
    root = build_command()
    ctx = root.make_context("modelcycle", ["--help"], resilient_parsing=True)
    ctx.terminal_width = 100
    parts = ["# Command-line reference", "", "Generated from `--help`; do not edit by hand.", ""]
    for path, text in _walk(root, ctx, ["modelcycle"]):
        parts += [f"## `{path}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _type(field: Any) -> str:
    """A field's type as the docs show it, with its bounds (``int, ≥ 1``)."""
    text = str(field.annotation).replace("typing.", "").replace("<class '", "")
    text = text.replace("'>", "").replace("pathlib.", "").replace("|", "or")
    text = text.replace("pydantic.types.SecretStr", "str (secret: never shown)")
    bounds = [
        f"{sign} {getattr(rule, name)}"
        for rule in field.metadata
        for name, sign in _BOUNDS
        if getattr(rule, name, None) is not None
    ]
    return ", ".join([text, *bounds])


def _default(field: Any) -> str:
    return "" if field.default is None else f"`{field.default}`"


def _serve_options() -> dict[str, str]:
    """The ``modelcycle serve`` option (or argument) of each server setting."""
    return {"models": "REFS...", **setting_options(ServeSettings)}


def _environment_names(name: str, field: Any) -> str:
    """The variables a setting is read from: its aliases, else ``MODELCYCLE_<NAME>``."""
    alias = field.validation_alias
    names = alias.choices if isinstance(alias, AliasChoices) else [f"MODELCYCLE_{name.upper()}"]
    return " or ".join(f"`{n}`" for n in names)


def settings_reference() -> str:
    """Markdown tables of every setting: the workspace's, then the prediction server's."""
    rows = ["| environment variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(
            f"| {_environment_names(name, field)} | {_type(field)} | {_default(field)} "
            f"| {field.description} |"
        )
    intro = [
        "# Settings",
        "",
        "Generated from `modelcycle.core.Settings` and `modelcycle.serving.ServeSettings`; do",
        "not edit by hand.",
        "",
        "## Workspace",
        "",
        "Each setting is read from its environment variable when a workspace is opened, or",
        "passed to `mc.Settings(...)` / `mc.Workspace(settings=...)`.",
        "",
    ]
    return "\n".join([*intro, *rows, "", *_serve_settings_reference(), ""])


def _serve_settings_reference() -> list[str]:
    options = _serve_options()
    rows = [
        "| environment variable | type | default | `modelcycle serve` | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in ServeSettings.model_fields.items():
        option = f"`{options[name]}`" if name in options else ""
        rows.append(
            f"| `MODELCYCLE_SERVE_{name.upper()}` | {_type(field)} | {_default(field)} "
            f"| {option} | {field.description} |"
        )
    intro = [
        "## Prediction server",
        "",
        "Options of a prediction server (`modelcycle.serving.ServeSettings`). Each is read",
        "from its environment variable when the settings are built, or passed to",
        "`ServeSettings(...)` for `create_app(..., settings=...)`. A list (`models`, `canary`,",
        "`shadow`) is given as JSON: `MODELCYCLE_SERVE_MODELS='[\"churn@champion\"]'`.",
        "For `modelcycle serve`, an option given on the command line wins; one left out",
        "yields to its environment variable, then to the default. The models served are",
        "always the command's `REFS...`.",
        "",
    ]
    return [*intro, *rows]


def metrics_reference() -> str:
    """Markdown table of every metric (the evaluation metric table, its one owner)."""
    from modelcycle.evaluation import DEFAULT_METRIC, METRIC_TABLE

    defaults = {name: task.value for task, name in DEFAULT_METRIC.items()}
    rows = [
        "| metric | tasks | better | computed from | CBPE estimates it | default for | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in METRIC_TABLE.values():
        tasks = ", ".join(t.value for t in sorted(spec.tasks, key=lambda t: t.value))
        rows.append(
            f"| `{spec.name}` | {tasks} | {'higher' if spec.greater_is_better else 'lower'} "
            f"| {spec.needs} | {'yes' if spec.estimable else 'no'} "
            f"| {defaults.get(spec.name, '')} | {spec.description} |"
        )
    intro = [
        "# Metrics",
        "",
        "Generated from `modelcycle.evaluation.METRIC_TABLE`; do not edit by hand.",
        "",
        "One table serves every stage: AutoML ranks trials by a metric (`train --metric`),",
        "the holdout report lists every metric of the task, the registry's gates compare",
        "recorded metrics (`test_<metric>`, `cv_<metric>`), retraining compares champion and",
        "challenger, and monitoring tracks realized (`realized.<metric>`) and, for",
        "classifiers, estimated (`estimated.<metric>`, by CBPE) performance. A task's default",
        "metric is used wherever none is named. A metric you log yourself under another",
        "name is lower-is-better when its name contains `loss`, `error`, `rmse`, `mae`,",
        "`mse`, `brier` or `latency`, and higher-is-better otherwise.",
        "",
    ]
    return "\n".join([*intro, *rows, ""])


def write(folder: Path) -> None:
    """Write ``cli.md``, ``settings.md`` and ``metrics.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cli.md").write_text(cli_reference())
    (folder / "settings.md").write_text(settings_reference())
    (folder / "metrics.md").write_text(metrics_reference())


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
