"""``modelcycle import``: bring runs and models from other tools into the workspace."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import ValidationError

import_app = typer.Typer(
    help="Bring experiments, runs and models from other tools into the workspace.",
    no_args_is_help=True,
)


@import_app.command("mlflow")
def import_mlflow_command(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="The MLflow store: 'sqlite:///mlflow.db', a database URL, a 'mlruns' folder "
            "or 'http://mlflow-server' (default: $MLFLOW_TRACKING_URI).",
            show_default=False,
        ),
    ] = None,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Load pickled models (runs their code) to register them, re-saved safely.",
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")] = False,
) -> None:
    """Copy MLflow's experiments, runs (params, metric histories, tags, artifacts) and
    registered models (versions, aliases) into the workspace; again imports only what is new.

    Pickled models are imported as files and registered only with --trust-pickle; the
    summary lists everything left out and why.
    """
    from modelcycle.importing import import_mlflow

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ValidationError(
            "no MLflow store given; pass --tracking-uri (e.g. sqlite:///mlflow.db or ./mlruns)"
        )
    ws = state(ctx).open(create=True)  # importing makes a workspace, as training does
    summary = import_mlflow(ws.tracker, ws.registry, uri, trust_pickle=trust_pickle)
    if json:
        out.print_json(summary.to_dict())
        return
    kinds = sorted(set(summary.imported) | set(summary.already))
    rows = [[kind, str(summary.imported[kind]), str(summary.already[kind])] for kind in kinds]
    title = f"imported from {uri}" + (" (nothing new)" if summary.nothing_new else "")
    out.console.print(out.table(title, ["what", "imported", "already here"], rows))
    for line in summary.left_out:
        out.console.print(f"[yellow]not imported[/] {line}", highlight=False, soft_wrap=True)
