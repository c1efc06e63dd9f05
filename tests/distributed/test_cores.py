"""The cores a cluster computes on at once: what a cluster fit's time estimate divides by."""

from __future__ import annotations

import os

import distributed
from modelcycle.distributed._cluster import usable_cores


def cores_here() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def test_workers_on_one_machine_count_no_more_than_its_cores(
    dask_client: distributed.Client,
) -> None:
    threads = sum(dask_client.nthreads().values())
    assert usable_cores(dask_client) == min(threads, cores_here())


def test_more_threads_than_cores_count_the_cores() -> None:
    threads = cores_here() + 3
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=threads, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert sum(client.nthreads().values()) == threads
        assert usable_cores(client) == cores_here()
