"""``modelcycle models``: registered models, versions, aliases, gates, cards and lineage."""

from __future__ import annotations

import json as json_module
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import ModelRef, ValidationError

if TYPE_CHECKING:
    from modelcycle.registry import ModelVersion

models_app = typer.Typer(
    help="Registered models: versions, aliases, gates, cards, lineage.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Override failed gates (recorded).")]
BreakingOption = Annotated[
    bool,
    typer.Option(
        "--allow-breaking", help="Accept a breaking signature change against the champion."
    ),
]


def _version_rows(versions: list[ModelVersion]) -> list[list[str]]:
    rows = []
    for v in versions:
        metrics = ", ".join(f"{k}={out.number(val)}" for k, val in sorted(v.metrics.items())[:3])
        aliases = " ".join(f"@{a}" for a in v.aliases) or "-"
        rows.append(
            [
                str(v.version),
                v.status,
                aliases,
                v.flavor,
                (v.run_id or "-")[:8],
                out.when(v.created_at),
                metrics,
            ]
        )
    return rows


@models_app.command("list")
def list_models(ctx: typer.Context, json: JsonOption = False) -> None:
    """List registered models with their latest version and aliases."""
    models = state(ctx).open().registry.models()
    if json:
        out.print_json(models)
        return
    rows = [
        [
            m["name"],
            str(m["versions"]),
            str(m["latest"] or "-"),
            " ".join(f"@{a}={v}" for a, v in sorted(m["aliases"].items())) or "-",
        ]
        for m in models
    ]
    out.console.print(
        out.table(f"{len(rows)} model(s)", ["name", "versions", "latest", "aliases"], rows)
    )


@models_app.command("versions")
def list_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    json: JsonOption = False,
) -> None:
    """List the versions of a model, newest first."""
    versions = state(ctx).open().registry.versions(name)
    if json:
        out.print_json([v.to_dict() for v in versions])
        return
    columns = ["version", "status", "aliases", "flavor", "run", "created", "metrics"]
    out.console.print(
        out.table(f"{name}: {len(versions)} version(s)", columns, _version_rows(versions))
    )


@models_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name/version.")],
    json: JsonOption = False,
) -> None:
    """Show one version: status, aliases, metrics, signature, data and alias history."""
    from modelcycle.packaging import describe_runtime

    registry = state(ctx).open().registry
    version = registry.resolve(ref)
    history = registry.alias_history(version.name)
    runtime = registry.manifest(version.ref).runtime
    if json:
        shown = {**version.to_dict(), "runtime": {**runtime, "summary": describe_runtime(runtime)}}
        out.print_json({**shown, "alias_history": [e.to_dict() for e in history]})
        return
    out.console.print(
        out.table(
            f"{version.ref}",
            ["version", "status", "aliases", "flavor", "run", "created", "metrics"],
            _version_rows([version]),
        )
    )
    out.console.print(f"served by: {escape(describe_runtime(runtime))}")
    inputs = [
        [s.name, s.type, str(s.nullable), ", ".join((s.categories or ())[:6]) or "-"]
        for s in version.signature.inputs
    ]
    out.console.print(out.table("signature", ["input", "type", "nullable", "allowed"], inputs))
    _print_history(history)


def _print_history(history: list) -> None:  # type: ignore[type-arg]
    if not history:
        return
    rows = [
        [
            out.when(e.created_at),
            f"@{e.alias}",
            e.action,
            str(e.from_version or "-"),
            str(e.to_version or "-"),
            e.actor or "-",
            "yes" if e.forced else "",
            "; ".join(e.reasons),
        ]
        for e in history
    ]
    out.console.print(
        out.table(
            "alias history",
            ["when", "alias", "action", "from", "to", "actor", "forced", "reasons"],
            rows,
        )
    )


def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number to promote.", min=1)],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to move.")] = "champion",
    force: ForceOption = False,
    allow_breaking: BreakingOption = False,
) -> None:
    """Move an alias (default @champion) to a version; @champion must pass the model's gates."""
    moved = (
        state(ctx)
        .open()
        .registry.promote(name, version, alias, force=force, allow_breaking=allow_breaking)
    )
    out.console.print(f"{moved.ref} is now @{alias}")


def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to roll back.")] = "champion",
) -> None:
    """Return an alias (default @champion) to the version it pointed at before."""
    restored = state(ctx).open().registry.rollback(name, alias)
    out.console.print(f"@{alias} of {name!r} rolled back to version {restored.version}")


models_app.command("promote")(promote)
models_app.command("rollback")(rollback)


@models_app.command("archive")
def archive(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument(min=1)],
) -> None:
    """Archive a version: kept for audit, never served."""
    state(ctx).open().registry.archive(name, version)
    out.console.print(f"{name}/{version} archived")


@models_app.command("restore")
def restore(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument(min=1)],
) -> None:
    """Make an archived version servable again."""
    state(ctx).open().registry.restore(name, version)
    out.console.print(f"{name}/{version} restored")


@models_app.command("gates")
def gates(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    config: Annotated[
        Path | None, typer.Option("--set", help="TOML or JSON file with the gates to store.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Show (or with --set, replace) the gates checked when promoting to @champion."""
    registry = state(ctx).open().registry
    current = registry.set_gates(name, _read_gates(config)) if config else registry.gates(name)
    data = json_module.loads(current.to_json())
    if json:
        out.print_json(data)
        return
    rows = [[key, json_module.dumps(value)] for key, value in data.items()]
    out.console.print(out.table(f"gates of {name!r}", ["gate", "setting"], rows))


def _read_gates(path: Path) -> dict:  # type: ignore[type-arg]
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read gates file {str(path)!r}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else dict(json_module.loads(text))
    except (tomllib.TOMLDecodeError, json_module.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValidationError(
            f"gates file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from exc


@models_app.command("card")
def card(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name@alias or name/version.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this .md or .html file.")
    ] = None,
    intended_use: Annotated[
        str | None,
        typer.Option(
            "--intended-use", help="Intended use text (default: the model's description)."
        ),
    ] = None,
) -> None:
    """Print the model card as Markdown, or write it as Markdown or HTML."""
    from modelcycle.registry import card_data, render_html, render_markdown

    data = card_data(state(ctx).open().registry, ref, intended_use=intended_use)
    if output is None:
        out.console.print(render_markdown(data), markup=False, highlight=False)
        return
    text = (
        render_html(data) if output.suffix.lower() in (".html", ".htm") else render_markdown(data)
    )
    output.write_text(text)
    out.console.print(f"model card written to {output}")


@models_app.command("lineage")
def lineage(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="A version reference, or a data set hash with --dataset.")
    ],
    dataset: Annotated[
        bool,
        typer.Option(
            "--dataset", help="REF is a data set fingerprint: list the versions trained on it."
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Trace a version back to its run, trials and data, or a data set forward to its versions."""
    registry = state(ctx).open().registry
    if dataset:
        versions = registry.versions_trained_on(ref)
        if json:
            out.print_json([v.to_dict() for v in versions])
            return
        out.console.print(
            out.table(
                f"versions trained or tested on {ref[:12]}",
                ["model", "version", "status", "aliases"],
                [
                    [v.name, str(v.version), v.status, " ".join(f"@{a}" for a in v.aliases) or "-"]
                    for v in versions
                ],
            )
        )
        return
    ModelRef.parse(ref)
    result = registry.lineage(ref)
    if json:
        out.print_json(result)
        return
    run = result["run"] or {}
    rows = [
        ["version", result["version"]["name"] + "/" + str(result["version"]["version"])],
        ["run", run.get("run_id", "-")],
        ["experiment", run.get("experiment", "-")],
        ["parent run", (result["parent"] or {}).get("run_id", "-")],
        ["trials", str(len(result["trials"]))],
        ["git commit", run.get("git_commit") or "-"],
    ]
    for d in run.get("datasets", []) + (result["parent"] or {}).get("datasets", []):
        rows.append(
            [
                f"data ({d['role']})",
                f"{d['dataset_hash'][:16]}  {d['rows']} rows × {len(d['columns'])} columns",
            ]
        )
    out.console.print(out.table("lineage", ["", ""], rows))
