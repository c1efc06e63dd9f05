"""What every command shares: the workspace options, opened once, lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from modelcycle.cli import _output as out

if TYPE_CHECKING:
    from modelcycle.workspace import Workspace


@dataclass
class CliState:
    """Options given before the command (``--workspace``, ``--artifacts``, ``--log-url``...)."""

    workspace: str | None = None
    artifacts: str | None = None
    log_url: str | None = None
    debug: bool = False
    #: ``--cluster`` of the command (train, score, worker); the workspace's settings
    #: (``MODELCYCLE_DASK_ADDRESS``) otherwise.
    cluster: str | None = None
    _opened: Workspace | None = field(default=None, repr=False)

    def open(self, *, upgrade: bool = True, create: bool = False) -> Workspace:
        """Open the workspace (once per command) and name it in a dim line on stderr.

        Only commands that make something (``train``, ``users create``...) pass
        ``create=True``; the others refuse a folder without a workspace, saying how to
        make one, instead of creating an empty workspace there.
        """
        if self._opened is None:
            from modelcycle.workspace import Workspace

            self._opened = Workspace(
                self.workspace,
                artifact_root=self.artifacts,
                log_url=self.log_url,
                cluster=self.cluster,
                upgrade=upgrade,
                create=create,
            )
            out.err_console.print(
                f"workspace: {self._opened.location}", style="dim", highlight=False
            )
        return self._opened

    def close(self) -> None:
        """Flush and close the workspace if a command opened it."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def state(ctx: typer.Context) -> CliState:
    """The shared state of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


#: ``--cluster``: the Dask scheduler a command runs its work on (``core.Settings.dask_address``).
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="ADDRESS",
        help="Run on the Dask cluster of this scheduler, e.g. tcp://host:8786 (default: "
        "$MODELCYCLE_DASK_ADDRESS; unset: in this process). Needs modelcycle[cluster].",
        show_default=False,
    ),
]
