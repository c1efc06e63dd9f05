"""Layer 5: the ``modelcycle`` command line (Typer + Rich)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.cli._app import app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become one red line and an exit code.

    ``modelcycle --version`` alone is answered before the command tree is built: building
    it generates ``serve``'s options from the server settings, which loads pydantic.
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from modelcycle._version import __version__

        sys.stdout.write(f"modelcycle {__version__}\n")
        return
    from modelcycle.cli._app import main as run

    run(argv)


def __getattr__(name: str) -> Any:
    if name == "app":
        from modelcycle.cli._app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
