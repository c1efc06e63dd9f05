"""``modelcycle runs`` and ``modelcycle experiments``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state

if TYPE_CHECKING:
    from modelcycle.tracking import Run

runs_app = typer.Typer(help="List, show and compare tracked runs.", no_args_is_help=True)
experiments_app = typer.Typer(help="List experiments.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_MAX_METRIC_COLUMNS = 6


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Only these experiments.")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="E.g. \"metrics.auc > 0.9 and params.lr = '0.1'\"."),
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="E.g. 'metrics.auc DESC'.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Most runs shown.")] = 50,
    json: JsonOption = False,
) -> None:
    """List runs, newest first (or as ordered), with their latest metrics."""
    ws = state(ctx).open()
    runs = ws.runs(experiment or None, filter=filter, order_by=order_by or None, limit=limit)
    if json:
        out.print_json([run.to_dict() for run in runs])
        return
    # Show as many metric columns as the terminal fits beside the fixed ones (~72 chars).
    room = max(1, min(_MAX_METRIC_COLUMNS, (out.console.width - 72) // 11))
    metric_keys = sorted({key for run in runs for key in run.metrics})[:room]
    rows = [
        [
            run.run_id[:8],
            run.experiment,
            run.name,
            out.status(run.status),
            out.when(run.start_time),
            out.duration(run.duration_s),
            *(out.number(run.metrics.get(key)) for key in metric_keys),
        ]
        for run in runs
    ]
    columns = ["run", "experiment", "name", "status", "started", "took", *metric_keys]
    out.console.print(out.table(f"{len(runs)} run(s)", columns, rows))


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of one.")],
    json: JsonOption = False,
) -> None:
    """Show one run: attributes, params, latest metrics, tags, datasets and artifacts."""
    ws = state(ctx).open()
    run = ws.get_run(ws.tracker.resolve_run_id(run_id))
    if json:
        data = run.to_dict()
        data["datasets"] = run.datasets
        data["artifacts"] = run.artifacts
        data["children"] = [child.run_id for child in run.children]
        out.print_json(data)
        return
    _print_run(run)


def _print_run(run: Run) -> None:
    attributes = [
        ["run id", run.run_id],
        ["experiment", run.experiment],
        ["name", run.name],
        ["status", out.status(run.status)],
        ["started", out.when(run.start_time)],
        ["ended", out.when(run.end_time)],
        ["took", out.duration(run.duration_s)],
        ["parent", run.parent_run_id or "-"],
        ["git commit", run.git_commit or "-"],
        ["source", run.source or "-"],
        ["user", run.user or "-"],
    ]
    out.console.print(out.table(f"run {run.run_id[:8]}", ["", ""], attributes))
    if run.error:
        out.console.print(f"[red]error:[/]\n{run.error}", highlight=False, markup=True)
    for title, values in (
        ("params", run.params),
        ("metrics (latest)", run.metrics),
        ("tags", run.tags),
    ):
        if values:
            rows = [
                [k, out.number(v) if isinstance(v, float) else str(v)]
                for k, v in sorted(values.items())
            ]
            out.console.print(out.table(title, ["key", "value"], rows))
    datasets = run.datasets
    if datasets:
        rows = [
            [
                d["role"],
                d["name"] or "-",
                d["dataset_hash"][:12],
                str(d["rows"]),
                str(len(d["columns"])),
            ]
            for d in datasets
        ]
        out.console.print(
            out.table("datasets", ["role", "name", "sha256", "rows", "columns"], rows)
        )
    artifacts = run.artifacts
    if artifacts:
        rows = [[a["path"], a["sha256"][:12], f"{a['size']:,}"] for a in artifacts]
        out.console.print(out.table("artifacts", ["path", "sha256", "bytes"], rows))
    children = run.children
    if children:
        rows = [
            [
                c.run_id[:8],
                c.name,
                out.status(c.status),
                *[out.number(v) for v in list(c.metrics.values())[:3]],
            ]
            for c in children
        ]
        out.console.print(
            out.table(
                f"{len(children)} child run(s)",
                ["run", "name", "status", "metrics"],
                [r[:4] for r in rows],
            )
        )


@runs_app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    json: JsonOption = False,
) -> None:
    """Compare runs side by side: params (differences in yellow) and latest metrics."""
    ws = state(ctx).open()
    runs = ws.tracker.get_runs([ws.tracker.resolve_run_id(r) for r in run_ids])
    if json:
        out.print_json([run.to_dict() for run in runs])
        return
    header = ["", *(f"{run.run_id[:8]}\n{run.name}" for run in runs)]
    rows: list[list[str]] = [["status", *(out.status(run.status) for run in runs)]]
    for key in sorted({k for run in runs for k in run.params}):
        values = [run.params.get(key, "-") for run in runs]
        style = "yellow" if len(set(values)) > 1 else "white"
        rows.append([f"params.{key}", *(f"[{style}]{v}[/]" for v in values)])
    for key in sorted({k for run in runs for k in run.metrics}):
        metric_values = [run.metrics.get(key) for run in runs]
        rows.append([f"metrics.{key}", *(out.number(v) for v in metric_values)])
    out.console.print(out.table(f"{len(runs)} runs", header, rows))


@experiments_app.command("list")
def list_experiments(ctx: typer.Context, json: JsonOption = False) -> None:
    """List experiments with their run counts."""
    experiments = state(ctx).open().experiments()
    if json:
        out.print_json(experiments)
        return
    rows = [
        [e["name"], str(e["runs"]), out.when(e["created_at"]), out.when(e["last_run"])]
        for e in experiments
    ]
    out.console.print(
        out.table(f"{len(rows)} experiment(s)", ["name", "runs", "created", "last run"], rows)
    )
