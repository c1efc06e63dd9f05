"""``modelcycle monitor``: one monitoring pass over a model's prediction log, with alerts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelcycle.cli import _output as out
from modelcycle.cli._context import ClusterOption, state

if TYPE_CHECKING:  # monitoring loads SciPy and scikit-learn: only when the command runs
    import pandas as pd
    from rich.progress import TaskID

    from modelcycle.monitoring import AlertSink, ColumnDrift, MonitorReport
    from modelcycle.workspace import Workspace

#: Exit code of ``--fail-on-alert`` when a rule fired (after the error codes 1-7).
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
_SHOWN_FEATURES = 5


def monitor_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref",
            metavar="REF",
            help="Version to monitor: name/3 or name@alias (default: @champion, else the latest).",
            show_default=False,
        ),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(
            "--rows", min=1, metavar="N", help="The latest N rows of the version (default 5000)."
        ),
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(
            "--hours",
            min=0.001,
            metavar="H",
            help="Rows of the last H hours (with --rows: both limits).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FOLDER",
            help="Folder for monitor.html and monitor.json [default: ./modelcycle-monitor/MODEL].",
            show_default=False,
        ),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of a summary.")
    ] = False,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="RULE",
            help="Alert rule, repeatable: '<metric> <op> <threshold> [top N] [min N] "
            "[info|warning|critical]', e.g. 'psi > 0.2 top 10'.",
            show_default=False,
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook", metavar="URL", help="POST fired alerts as JSON to this http(s) URL."
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Store fired alerts and this report in the workspace (where the server's "
            "/v1/models/{name}/alerts and /monitoring read them).",
        ),
    ] = True,
    fail_on_alert: Annotated[
        bool,
        typer.Option(
            "--fail-on-alert", help=f"Exit with code {out.ALERT_EXIT_CODE} when an alert fires."
        ),
    ] = False,
    cluster: ClusterOption = None,
) -> None:
    """Check a model's drift, performance and service health on its logged predictions.

    Reads the prediction log (and delayed labels) of the workspace, writes an HTML
    report and its JSON, and evaluates the alert rules given with --rule (without any,
    the rules of the model's stored policy, if it has one). Rule metrics:
    psi, drift.share, drift.detected, prediction.psi, prediction.drifted,
    realized.<metric>, estimated.<metric>, latency.p50_ms, latency.p95_ms,
    latency.p99_ms, error_rate, throughput_rps, labelled_rows, rows, requests.

    With --cluster, the window of the log is selected and decoded on the Dask cluster's
    workers, one task per part of the log's segments; the report is the one this
    machine would compute.
    """
    from modelcycle.monitoring import AlertRule, MonitorWindow, WebhookSink, run_monitoring

    rules = [AlertRule.parse(text) for text in rule or []]
    sinks: list[AlertSink] = [WebhookSink(webhook)] if webhook else []
    default_rows = None if hours is not None else MonitorWindow().last_rows
    window = MonitorWindow(last_rows=rows if rows is not None else default_rows, hours=hours)
    cli_state = state(ctx)
    cli_state.cluster = cluster
    ws = cli_state.open()
    policy = ws.policies.get(model)
    if not rules and policy is not None:
        rules = policy.monitoring.rules()
    with _reader(ws) as reader:
        done = run_monitoring(
            ws.services,
            model,
            ref=ref,
            window=window,
            rules=rules,
            sinks=sinks,
            record=record,
            copies=[output if output is not None else Path("modelcycle-monitor") / model],
            repeat_after_s=policy.monitoring.repeat_after_s if policy is not None else None,
            reader=reader,
        )
    report, paths = done.report, done.saved
    if json:
        out.print_json(report.to_dict())
    else:
        print_summary(report)
        out.console.print(f"report: {escape(str(paths['html']))}", highlight=False)
        out.console.print(f"json:   {escape(str(paths['json']))}", highlight=False)
    if fail_on_alert and report.alerts:
        raise typer.Exit(out.ALERT_EXIT_CODE)


@contextlib.contextmanager
def _reader(ws: Workspace) -> Iterator[Callable[..., pd.DataFrame]]:
    """What reads the log: here, or (``--cluster``) on the Dask cluster with a progress bar."""
    from modelcycle.monitoring import read_predictions

    address = ws.settings.dask_address
    if not address:
        yield read_predictions
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from modelcycle.distributed import ClusterLogReader, connect

    client = connect(address)
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=out.err_console, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(f"{step}: {total} parts of the log", total=total)
                bar.update(tasks[step], completed=done)

            yield ClusterLogReader(client, ws.settings, progress=progress)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def print_summary(report: MonitorReport) -> None:
    """The verdicts, the most drifted features, the alerts and the rules' states."""
    version = f" version {report.version}" if report.version is not None else ""
    style = {"ok": "green", "alerts": "bold red"}.get(report.status, "yellow")
    out.console.print(
        f"[bold]{escape(report.model)}[/]{version} · {escape(report.window)} · "
        f"{report.rows} rows · [{style}]{report.status}[/]",
        highlight=False,
    )
    for note in report.notes:
        out.console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    out.console.print(out.table(None, ["check", "value"], _verdicts(report), wrap_last=True))
    if report.drift is not None and report.drift.drifted_columns:
        out.console.print(_drifted(report))
    if report.alerts:
        rows = [
            [escape(a.rule), f"[{_SEVERITY_STYLE[a.severity]}]{a.severity}[/]", escape(a.message)]
            for a in report.alerts
        ]
        title = f"{len(report.alerts)} alert(s)"
        out.console.print(out.table(title, ["rule", "severity", "message"], rows, wrap_last=True))
    quiet = [c for c in report.checks if c.state != "fired"]
    if quiet:
        rows = [
            [escape(c.rule.name), c.state, out.number(c.value), escape(c.detail)] for c in quiet
        ]
        out.console.print(out.table("rules", ["rule", "state", "value", "detail"], rows))


def _verdicts(report: MonitorReport) -> list[list[str]]:
    metrics, metric = report.metrics, report.metric or "metric"
    rows: list[list[str]] = []
    if report.drift is not None:
        drift = report.drift
        drifted = len(drift.drifted_columns)
        colour = "red" if drifted else "green"
        rows.append(["drift", f"[{colour}]{drifted} of {len(drift.columns)} features drifted[/]"])
        rows.append(["largest PSI", out.number(metrics.get("psi"))])
        if drift.prediction is not None:
            verdict = "drifted" if drift.prediction.drifted else "stable"
            rows.append(["prediction drift", verdict])
    else:
        rows.append(["drift", "not computed"])
    labelled = int(metrics.get("labelled_rows", 0))
    realized = metrics.get(f"realized.{metric}")
    rows.append(
        [f"realized {metric}", f"{out.number(realized)} on {labelled} labelled rows"]
        if realized is not None
        else [f"realized {metric}", f"- ({labelled} labelled rows)"]
    )
    rows.append([f"estimated {metric} (CBPE)", out.number(metrics.get(f"estimated.{metric}"))])
    if "requests" in metrics:
        p50, p99 = metrics.get("latency.p50_ms"), metrics.get("latency.p99_ms")
        rows.append(["latency p50 / p99", f"{out.number(p50)} / {out.number(p99)} ms"])
        rate = metrics.get("error_rate", 0.0)
        rows.append(["error rate", f"{rate:.2%} of {int(metrics['requests'])} requests"])
    return rows


def _drifted(report: MonitorReport) -> Table:
    assert report.drift is not None
    columns = [c for c in report.drift.columns if c.drifted]
    columns.sort(
        key=lambda c: -max((r.statistic for r in c.results if r.detector == "psi"), default=0)
    )
    rows = []
    for column in columns[:_SHOWN_FEATURES]:
        psi = next((r.statistic for r in column.results if r.detector == "psi"), None)
        reasons = ["significant"] if column.significant else []
        reasons += list(column.exceeded)
        importance = report.importance.get(column.name)
        rows.append(
            [
                escape(column.name),
                out.number(psi),
                out.number(column.adjusted_pvalue),
                out.number(importance),
                ", ".join(reasons),
            ]
        )
    more = len(columns) - len(rows)
    title = "drifted features" + (f" (top {len(rows)} of {len(columns)})" if more else "")
    return out.table(title, ["feature", "PSI", "p-value", "importance", "why"], rows)


def _psi(column: ColumnDrift) -> float | None:
    return next((r.statistic for r in column.results if r.detector == "psi"), None)
