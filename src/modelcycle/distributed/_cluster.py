"""Connecting to a Dask scheduler, with errors that say what to do."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modelcycle.core import ValidationError, WorkspaceError

if TYPE_CHECKING:
    from distributed import Client

#: A scheduler address: tcp:// or tls:// (or inproc:// for tests), a host and a port.
ADDRESS = re.compile(r"(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}|inproc://[\w.\-/]+")


def connect(address: str, *, timeout_s: float = 10.0) -> Client:
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``).

    Raises
    ------
    ValidationError
        The address is not a scheduler address.
    WorkspaceError
        Dask is not installed, or no scheduler answers at ``address`` within ``timeout_s``.
    """
    if not isinstance(address, str) or not ADDRESS.fullmatch(address):
        raise ValidationError(
            f"cluster address {address!r} is not a Dask scheduler address; expected "
            "tcp://host:8786 (or tls://host:8786)"
        )
    try:
        from distributed import Client
    except ImportError:
        raise WorkspaceError(
            "--cluster needs Dask's 'distributed' package; install it with "
            "pip install 'modelcycle[cluster]'"
        ) from None
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise WorkspaceError(
            f"no Dask scheduler answered at {address} within {timeout_s:g}s ({exc}); start "
            "one with 'dask scheduler' and workers with 'dask worker ADDRESS', or check "
            "--cluster / MODELCYCLE_DASK_ADDRESS"
        ) from None
