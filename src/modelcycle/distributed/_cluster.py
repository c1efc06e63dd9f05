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


def usable_cores(client: Client) -> int:
    """How many of the cluster's worker threads can compute at once.

    Per machine, its workers' threads, but no more than the cores usable there: ten
    single-threaded workers on a two-core machine compute two at a time, and a time
    estimate that counted ten would be five times too short. Machines are told apart
    by their workers' host addresses; each worker reports the cores its process may use.
    """
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores: dict[str, int] = client.run(_cores_here)
    threads: dict[str, int] = {}
    usable: dict[str, int] = {}
    for address, info in workers.items():
        host = str(info.get("host") or address)
        threads[host] = threads.get(host, 0) + int(info.get("nthreads", 1))
        usable[host] = max(usable.get(host, 0), int(cores.get(address) or 0))
    return max(1, sum(min(n, usable[h]) if usable[h] else n for h, n in threads.items()))


def _cores_here() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
