"""A real Dask cluster for the session: two worker processes of one thread each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[str]:
    """The scheduler address of a ``LocalCluster`` (processes, 2 workers x 1 thread)."""
    cluster = distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        dashboard_address=None,
        memory_limit="1GiB",
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


@pytest.fixture
def dask_client(dask_cluster: str) -> Iterator[distributed.Client]:
    """A client of the session's cluster, closed after the test."""
    client = distributed.Client(dask_cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
