"""``modelcycle serve``: run the prediction server for one or more model references."""

from __future__ import annotations

import importlib.util
import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import NotFound, PermissionDenied


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless ``--allow-remote`` was given (no auth yet)."""
    if allow_remote or _loopback(host):
        return
    raise PermissionDenied(
        f"refusing to listen on {host!r}: the server has no API keys yet, so anyone who can "
        "reach it could call it; serve on 127.0.0.1 behind a proxy, or pass --allow-remote "
        "if the network is trusted"
    )


def _fastest(module: str, name: str) -> str:
    return name if importlib.util.find_spec(module) is not None else "auto"


def serve(
    ctx: typer.Context,
    refs: Annotated[
        list[str], typer.Argument(help="Models to serve: 'name', 'name@alias' or 'name/version'.")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (no auth yet).")
    ] = False,
    max_rows: Annotated[int, typer.Option(min=1, help="Most rows per request.")] = 10_000,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between checks for alias moves.")
    ] = 1.0,
    log_dir: Annotated[
        Path | None,
        typer.Option(help="Prediction log folder (default: <workspace>/predictions)."),
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not write the prediction log.")
    ] = False,
    batch_window_ms: Annotated[
        float,
        typer.Option(
            min=0,
            max=100,
            help="Longest wait (ms) gathering concurrent small requests into one model call.",
        ),
    ] = 1.0,
    max_batch_rows: Annotated[
        int, typer.Option(min=1, help="Most rows per micro-batched model call (1: no batching).")
    ] = 64,
    explain_top_k: Annotated[
        int, typer.Option(min=1, max=1000, help="Feature contributions per row with ?explain=true.")
    ] = 5,
    canary: Annotated[
        list[str] | None,
        typer.Option(
            help="Send a share of a model's traffic to a challenger: 'churn@challenger=0.1' "
            "(repeatable)."
        ),
    ] = None,
    shadow: Annotated[
        list[str] | None,
        typer.Option(
            help="Mirror a model's traffic to a challenger after answering: 'churn@challenger' "
            "(repeatable)."
        ),
    ] = None,
) -> None:
    """Serve models over HTTP (REST /v1, OpenAPI at /docs); follow promotions and rollbacks."""
    import uvicorn

    from modelcycle.serving import (
        ServeSettings,
        create_app,
        missing_refs,
        parse_canary,
        parse_shadow,
    )

    check_host(host, allow_remote=allow_remote)
    challengers = [parse_canary(text).ref for text in canary or ()] + [
        parse_shadow(text).ref for text in shadow or ()
    ]
    ws = state(ctx).open()
    problems = missing_refs(ws.registry, tuple(refs) + tuple(challengers))
    if problems:
        raise NotFound("cannot serve: " + "; ".join(problems))
    settings = ServeSettings(
        models=tuple(refs),
        max_rows=max_rows,
        poll_interval_s=poll_interval,
        log_predictions=not no_log,
        batch_window_ms=batch_window_ms,
        max_batch_rows=max_batch_rows,
        explain_top_k=explain_top_k,
        canary=tuple(canary or ()),
        shadow=tuple(shadow or ()),
    )
    folder = log_dir if log_dir is not None else ws.settings.home / "predictions"
    app = create_app(ws.registry, settings=settings, log_dir=folder)
    out.console.print(f"serving {', '.join(refs)} at http://{host}:{port} (docs at /docs)")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=_fastest("uvloop", "uvloop"),
        http=_fastest("httptools", "httptools"),
        log_level="info",
    )
    uvicorn.Server(config).run()


def score(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Model: 'name', 'name@alias' or 'name/version'.")],
    source: Annotated[Path, typer.Argument(help="Input .parquet or .csv file.", exists=True)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output .parquet or .csv file.")
    ] = Path("scored.parquet"),
    rejects: Annotated[
        Path | None,
        typer.Option(help="CSV of rejected rows with reasons (default: <output>.rejects.csv)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows read per chunk.")] = 50_000,
) -> None:
    """Score a file in chunks, validated like the server; bad rows go to a reject file."""
    from rich.progress import Progress

    from modelcycle.serving import load_served, score_file

    model = load_served(state(ctx).open().registry, ref, max_rows=chunk_rows)
    reject_file = rejects or output.with_name(output.stem + ".rejects.csv")
    with Progress(console=out.console, transient=True) as bar:
        task = bar.add_task(f"scoring with {model.name}/{model.version}", total=None)
        summary = score_file(
            model,
            source,
            output,
            rejects=reject_file,
            chunk_rows=chunk_rows,
            progress=lambda n: bar.advance(task, n),
        )
    out.console.print(
        f"scored {summary.scored} rows with {model.name}/{model.version} into {output}; "
        f"{summary.rejected} rejected (see {reject_file})"
    )
