"""``modelcycle train`` and ``modelcycle report``."""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from modelcycle.cli import _output as out
from modelcycle.cli._context import ClusterOption, state
from modelcycle.core import NotFound, ValidationError

if TYPE_CHECKING:
    from modelcycle.automl import TrialResult
    from modelcycle.workspace import TrainResult, Workspace


def train(
    ctx: typer.Context,
    data: Annotated[
        str | None, typer.Argument(help="CSV or Parquet file, or a SQLAlchemy URL with --sql.")
    ] = None,
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")] = ...,  # type: ignore[assignment]
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Register the model under this name.")
    ] = None,
    budget: Annotated[
        float,
        typer.Option(
            "--budget",
            "-b",
            min=1,
            help="Seconds for the whole job: data checks, search, refit, evaluation.",
        ),
    ] = 60,
    task: Annotated[
        str | None, typer.Option(help="binary, multiclass or regression (default: detected).")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Metric to optimise, any of the task's in docs/metrics.md "
            "(default: roc_auc / log_loss / rmse)."
        ),
    ] = None,
    sql: Annotated[
        str | None, typer.Option(help="SQL query (over DATA's database, or DuckDB over files).")
    ] = None,
    schema: Annotated[
        Path | None, typer.Option(help="TOML/JSON file overriding column types.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    test_size: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="Share of rows held out.")
    ] = 0.2,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            "--drop",
            metavar="COLUMN",
            help="Leave a column out of modelling (repeat for more), e.g. a leakage suspect.",
            show_default=False,
        ),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote", help="Make the new version @champion if it passes the model's gates."
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    cluster: ClusterOption = None,
    distributed_data: Annotated[
        bool,
        typer.Option(
            "--distributed-data",
            help="DATA is a Parquet dataset (folder, glob or s3:// prefix) too large for "
            "one machine: read, profile and train LightGBM on it on the --cluster's "
            "workers, never collecting it here.",
        ),
    ] = False,
    sample_rows: Annotated[
        int,
        typer.Option(
            min=1000,
            help="With --distributed-data: train rows collected here to infer the schema, "
            "check the data and search LightGBM's parameters.",
        ),
    ] = 100_000,
) -> None:
    """Check the data, search models within the budget, evaluate on a holdout, track, register.

    With --cluster, the search's trials run on the Dask cluster's workers, one per worker
    thread at once, within the same budget. With --cluster and --distributed-data, DATA is
    a Parquet dataset read, summarised and trained on by the workers (LightGBM).
    """
    if promote and not name:
        raise ValidationError("--promote needs --name: a version is promoted within a model")
    if data is not None and sql is None and not distributed_data:
        _check_target(data, target)
    state(ctx).cluster = cluster
    ws = state(ctx).open(create=True)
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out.err_console, transient=True) as progress:
        bar = progress.add_task("searching", total=budget, best="")

        def on_trial(result: TrialResult, best: TrialResult | None, elapsed: float) -> None:
            shown = f"best {best.value:.5g} ({best.learner})" if best else ""
            label = f"trial {result.number + 1}: {result.learner} {result.status.lower()}"
            progress.update(
                bar,
                completed=min(budget, elapsed),
                description=label,
                best=shown,
            )

        result = ws.train(
            data, target=target, name=name, budget=budget, task=task, metric=metric,
            sql=sql, schema=schema, seed=seed, test_size=test_size, drop=drop or (),
            progress=on_trial, distributed_data=distributed_data, sample_rows=sample_rows,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if json:
        out.print_json(_summary(result, seconds))
    else:
        _print_result(result, seconds)
    if promote and result.version is not None:
        # After the result is shown: a refusal (gate failed) still leaves the version there.
        ws.registry.promote(result.version.name, result.version.version)
        if not json:
            out.console.print(f"{result.version.ref} is now @champion")
    if not json:
        _print_next_steps(result, promoted=promote)


def _check_target(data: str, target: str) -> None:
    """Refuse a misspelt ``--target`` from the file's header, in about a second.

    Before the workspace is opened (or created), AutoML is loaded and the file is read
    whole and profiled; the training job checks the target again on the frame it read.
    """
    from modelcycle.data._read import read_columns, target_missing

    columns = read_columns(data)
    if target not in columns:
        raise target_missing(target, repr(data), columns)


def _summary(result: TrainResult, seconds: float) -> dict[str, object]:
    automl = result.automl
    return {
        "run_id": result.run_id,
        "version": result.version.to_dict() if result.version else None,
        "task": automl.task_.value,
        "metric": automl.metric_.name,
        "cv_score": automl.best_value_,
        "ensemble": len(result.pipeline.members) > 1,
        "trials": len(automl.results_),
        "test_metrics": dict(result.report.metrics),
        "intervals": {k: list(v) for k, v in result.report.intervals.items()},
        "warnings": result.warnings,
        "seconds": seconds,
        "leaderboard": [
            {k: v for k, v in row.items() if k != "params"} for row in automl.leaderboard_[:10]
        ],
    }


def _print_result(result: TrainResult, seconds: float) -> None:
    automl = result.automl
    metric = automl.metric_.name
    rows = [
        [
            str(r["trial"]),
            r["learner"],
            r["source"],
            out.number(r[metric]),
            f"{r['seconds']:.2f}s",
            r["status"],
        ]
        for r in automl.leaderboard_[:10]
    ]
    out.console.print(
        out.table(
            f"leaderboard ({len(automl.results_)} trials)",
            ["trial", "learner", "from", metric, "took", "status"],
            rows,
        )
    )
    report = result.report
    metric_rows = []
    for key, value in report.metrics.items():
        low_high = report.intervals.get(key)
        interval = f"[{low_high[0]:.4g}, {low_high[1]:.4g}]" if low_high else "-"
        metric_rows.append([key, out.number(value), interval])
    out.console.print(
        out.table(
            "holdout metrics (95% bootstrap intervals)",
            ["metric", "value", "interval"],
            metric_rows,
        )
    )
    for warning in result.warnings:
        out.console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    registered = (
        f"registered as [bold]{result.version.ref}[/]"
        if result.version
        else "not registered (no --name)"
    )
    kind = "an ensemble" if len(result.pipeline.members) > 1 else "a single model"
    out.console.print(
        f"best: {kind}, cv {metric} {out.number(automl.best_value_)}; {registered}; "
        f"run {result.run_id[:8]}; took {seconds:.1f}s"
    )


def _print_next_steps(result: TrainResult, *, promoted: bool) -> None:
    """The commands a user runs next, with this run's names filled in."""
    steps = [f"modelcycle report {result.run_id[:8]}        # the holdout evaluation (HTML)"]
    if result.version is not None:
        name, number = result.version.name, result.version.version
        if not promoted:
            steps.append(
                f"modelcycle promote {name} {number}      # make it @champion (gates apply)"
            )
        steps.append(f"modelcycle serve {name}             # a REST server for @champion")
        steps.append(f"modelcycle score {name} rows.csv    # score a file in batch")
    out.console.print("next:", style="bold", highlight=False)
    for step in steps:
        out.console.print(f"  {step}", markup=False, highlight=False)


def _training_run_of(ws: Workspace, ref: str) -> str:
    """The run id ``ref`` names: a run id or prefix, else a model version's training run.

    ``name@alias`` and ``name/3`` are never run ids; a bare word is a run id (prefix)
    first and the model's champion only when no run matches.
    """
    if "@" not in ref and "/" not in ref:
        try:
            return ws.tracker.resolve_run_id(ref)
        except (NotFound, ValidationError):
            if ref not in {m["name"] for m in ws.registry.models()}:
                raise
    version = ws.registry.resolve(ref)
    if version.run_id is None:
        raise NotFound(
            f"{version.name}/{version.version} was registered from a file, not a training "
            "run: it has no evaluation report"
        )
    return version.run_id


def report(
    ctx: typer.Context,
    run_id: Annotated[
        str,
        typer.Argument(
            help="A training run id (or unique prefix), or a model version: "
            "churn@champion, churn/2, churn.",
            metavar="RUN_OR_MODEL",
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the HTML report here.")
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the report in a browser.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
) -> None:
    """Write (or open) the evaluation report of a training run."""
    from modelcycle.records import TrainingRecord

    ws = state(ctx).open()
    record = TrainingRecord(ws.get_run(_training_run_of(ws, run_id)))
    if json:  # written raw: a console would wrap long strings and break the JSON
        if record.evaluation is None:
            raise NotFound(
                f"run {record.run.run_id[:8]} has no evaluation report; it was not made by "
                "'modelcycle train'"
            )
        out.print_json(record.evaluation.to_dict())
        return
    target = record.evaluation_page(output or Path(f"report-{record.run.run_id[:8]}.html"))
    out.console.print(f"report written to {target} (a single file; it opens offline)")
    if open_browser:
        webbrowser.open(target.resolve().as_uri())
