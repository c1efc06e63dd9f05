"""The ``modelcycle`` command: global options, sub-commands, and error handling."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from modelcycle._version import __version__
from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.cli._db import db_app
from modelcycle.cli._demo import demo
from modelcycle.cli._feedback import feedback
from modelcycle.cli._import import import_app
from modelcycle.cli._lifecycle import jobs, policy_app, retrain, worker
from modelcycle.cli._models import models_app, promote, rollback
from modelcycle.cli._monitor import monitor_command
from modelcycle.cli._runs import experiments_app, runs_app
from modelcycle.cli._security import audit_app, keys_app, users_app
from modelcycle.cli._serve import score, serve, ui
from modelcycle.cli._train import report, train
from modelcycle.core import ModelcycleError

app = typer.Typer(
    name="modelcycle",
    help="The whole job of an AI developer: track, train, register, serve, monitor, retrain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(runs_app, name="runs")
app.add_typer(experiments_app, name="experiments")
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(import_app, name="import")
app.command("promote")(promote)
app.command("rollback")(rollback)
app.command("demo")(demo)
app.command("train")(train)
app.command("report")(report)
app.command("serve")(serve)
app.command("ui")(ui)
app.command("score")(score)
app.command("monitor")(monitor_command)
app.command("feedback")(feedback)
app.command("worker")(worker)
app.command("retrain")(retrain)
app.command("jobs")(jobs)


def _version(value: bool) -> None:
    if value:
        out.console.print(f"modelcycle {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder or database URL (default: $MODELCYCLE_HOME or ./.modelcycle).",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Artifact store: a folder or s3://bucket/prefix (default: "
            "$MODELCYCLE_ARTIFACTS_URL or the workspace's artifacts/ folder).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """modelcycle command line."""
    cli_state = state(ctx)
    cli_state.workspace = workspace
    cli_state.artifacts = artifacts
    cli_state.debug = debug
    ctx.call_on_close(cli_state.close)


#: Options of the root command that may also be written after the sub-command.
_GLOBAL_WITH_VALUE = ("-w", "--workspace", "--artifacts")
_GLOBAL_FLAGS = ("--debug",)


def hoist_global_options(args: list[str]) -> list[str]:
    """Move ``-w X``, ``--artifacts X`` and ``--debug`` written after the command to the front.

    ``modelcycle runs list -w ws`` then means ``modelcycle -w ws runs list``, as users
    expect; nothing after ``--`` moves.

    Examples
    --------
    >>> hoist_global_options(["runs", "list", "-w", "ws", "--json"])
    ['-w', 'ws', 'runs', 'list', '--json']
    """
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        if token in _GLOBAL_WITH_VALUE and index + 1 < len(args):
            front.extend(args[index : index + 2])
            index += 2
            continue
        if token.startswith(("--workspace=", "--artifacts=")) or token in _GLOBAL_FLAGS:
            front.append(token)
        else:
            rest.append(token)
        index += 1
    return front + rest


def build_command() -> Any:
    """The ``modelcycle`` click command, with its help tidied (used by ``main`` and the docs).

    Typer shows a type after every option: ``<bool>`` after a flag and ``<list[str]>``
    after a repeatable option mean nothing to a user. Flags show none; repeatable
    options and arguments show their parameter's name (``--drop COLUMN``, ``REFS...``).
    """
    command = typer.main.get_command(app)
    _tidy(command)
    return command


def _tidy(command: Any) -> None:
    # Typer vendors its own click: parameters are recognised by their attributes, and a
    # parameter's shown type is replaced on the instance (Typer has no hook for it).
    for param in command.params:
        name = (param.name or "value").upper()
        if getattr(param, "is_flag", False):
            _show_type(param, None)
        elif param.param_type_name == "argument" and param.nargs == -1:
            _show_type(param, None)
            param.metavar = param.metavar or name
        elif getattr(param, "multiple", False):
            _show_type(param, param.metavar or name)
    original = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            _show_type(option, None)
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def _show_type(param: Any, shown: str | None) -> None:
    param.display_type_rich = lambda ctx: shown


def _debug_requested(argv: list[str]) -> bool:
    flag = os.environ.get("MODELCYCLE_DEBUG", "").lower() in ("1", "true", "yes")
    return flag or "--debug" in argv


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become one red line and an exit code."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    try:
        build_command().main(args=args, prog_name="modelcycle", standalone_mode=True)
    except ModelcycleError as error:
        if _debug_requested(args):
            raise
        out.print_error(error)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        out.print_error("interrupted")
        raise SystemExit(130) from None
