"""The ``modelcycle`` command: global options, sub-commands, and error handling."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer
import typer.core

from modelcycle._version import __version__
from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.cli._settings_options import resolve_setting_options
from modelcycle.core import ModelcycleError

#: Every sub-command of ``modelcycle``, in the order ``--help`` lists them (commands, then
#: groups, as Typer lists a whole tree): its name, and
#: where its Typer app (a group) or its function lives. A command is imported and built
#: only when it runs or its help is shown, so ``modelcycle runs list`` does not build
#: ``serve`` (whose options come from pydantic's ``ServeSettings``).
COMMANDS: dict[str, str] = {
    "promote": "modelcycle.cli._models:promote",
    "rollback": "modelcycle.cli._models:rollback",
    "demo": "modelcycle.cli._demo:demo",
    "train": "modelcycle.cli._train:train",
    "report": "modelcycle.cli._train:report",
    "serve": "modelcycle.cli._serve:serve",
    "ui": "modelcycle.cli._serve:ui",
    "score": "modelcycle.cli._serve:score",
    "monitor": "modelcycle.cli._monitor:monitor_command",
    "feedback": "modelcycle.cli._feedback:feedback",
    "worker": "modelcycle.cli._lifecycle:worker",
    "retrain": "modelcycle.cli._lifecycle:retrain",
    "jobs": "modelcycle.cli._lifecycle:jobs",
    "runs": "modelcycle.cli._runs:runs_app",
    "experiments": "modelcycle.cli._runs:experiments_app",
    "models": "modelcycle.cli._models:models_app",
    "db": "modelcycle.cli._db:db_app",
    "users": "modelcycle.cli._security:users_app",
    "keys": "modelcycle.cli._security:keys_app",
    "audit": "modelcycle.cli._security:audit_app",
    "policy": "modelcycle.cli._lifecycle:policy_app",
    "import": "modelcycle.cli._import:import_app",
}


def _target(name: str) -> Any:
    module, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def build_subcommand(name: str) -> Any:
    """The click command of ``modelcycle NAME``, built by Typer as ``app.add_typer`` or
    ``app.command`` would build it inside the whole tree, with its help tidied."""
    target = _target(name)
    holder = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(resolve_setting_options(target))
    command = typer.main.get_group(holder).commands[name]
    _tidy(command)
    return command


def _summary(name: str) -> Any:
    """``modelcycle NAME`` as the command list shows it: its name and help, no options."""
    target = _target(name)
    if isinstance(target, typer.Typer):
        info = typer.models.TyperInfo(target, name=name)
        return typer.core.TyperGroup(name=name, help=typer.main.solve_typer_info_help(info))
    return typer.core.TyperCommand(name=name, help=inspect.getdoc(target))


class _Commands(Mapping[str, Any]):
    """The sub-commands of the root group, each built on first access."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in COMMANDS:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = build_subcommand(name)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class LazyGroup(typer.core.TyperGroup):
    """The root ``modelcycle`` group: sub-commands load when used (Click's lazy group).

    Its ``--help`` lists every command with the first lines of its help without building
    any: each is listed from the text Typer's build would give it (a function's
    docstring, a Typer app's help), so ``serve``'s options, generated from pydantic's
    ``ServeSettings``, are not built. ``tests/cli/test_cli.py`` compares the listing with
    the one of the fully built tree.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands()  # type: ignore[assignment]
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return _summary(cmd_name)
        return self.commands[cmd_name]

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="modelcycle",
    help="The whole job of an AI developer: track, train, register, serve, monitor, retrain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=LazyGroup,
)


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
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url",
            help="Prediction and feedback logs and monitoring reports: a folder or "
            "s3://bucket/prefix (default: $MODELCYCLE_LOG_URL, $MODELCYCLE_LOG_ROOT or the "
            "workspace folder).",
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
    cli_state.log_url = log_url
    cli_state.debug = debug
    ctx.call_on_close(cli_state.close)


#: Options of the root command that may also be written after the sub-command.
_GLOBAL_WITH_VALUE = ("-w", "--workspace", "--artifacts", "--log-url")
_GLOBAL_FLAGS = ("--debug",)
_GLOBAL_PREFIXES = ("--workspace=", "--artifacts=", "--log-url=")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options (``-w X``, ``--artifacts X``, ``--log-url X``, ``--debug``) first.

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
        if token.startswith(_GLOBAL_PREFIXES) or token in _GLOBAL_FLAGS:
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
    if isinstance(command, LazyGroup):
        return  # each sub-command is tidied as it is built
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
