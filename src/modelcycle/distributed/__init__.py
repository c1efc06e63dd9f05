"""Layer 4: the same jobs on a Dask cluster: parallel trials, big-data training, batch scoring.

Nothing here is imported unless a command is given ``--cluster tcp://host:8786`` (or
``MODELCYCLE_DASK_ADDRESS``): importing this package imports neither Dask nor
``distributed`` (install them with ``pip install 'modelcycle[cluster]'``).

- :class:`DaskExecutor` runs an AutoML search's trials on the cluster's workers, one per
  worker thread at once, under the same budget, with Optuna's studies in the workspace's
  PostgreSQL database or in the scheduler's memory (:func:`optuna_storage`).
- ``_dataset`` and ``_lightgbm`` train on a Parquet dataset that is never
  collected to one machine (``train --distributed-data``, run by
  :mod:`modelcycle.workspace`): split by row hash, profiled and summarised partition by
  partition, LightGBM trained with ``lightgbm.dask``, the holdout scored on the workers.
- :class:`ClusterLogReader` reads a model's prediction log for ``monitor --cluster``,
  one task per part of its segments, into the frame one machine reads (same report).
- :func:`score_partitions` scores a partitioned Parquet dataset (a folder or an ``s3://``
  prefix), one task per partition, with the same output and reject files as one machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports

if TYPE_CHECKING:
    from modelcycle.distributed._cluster import connect
    from modelcycle.distributed._monitoring import ClusterLogReader
    from modelcycle.distributed._scoring import PartitionSummary, partitions, score_partitions
    from modelcycle.distributed._trials import DaskExecutor, optuna_storage

__all__ = [
    "ClusterLogReader",
    "DaskExecutor",
    "PartitionSummary",
    "connect",
    "optuna_storage",
    "partitions",
    "score_partitions",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "modelcycle.distributed._cluster": ("connect",),
        "modelcycle.distributed._monitoring": ("ClusterLogReader",),
        "modelcycle.distributed._scoring": ("PartitionSummary", "partitions", "score_partitions"),
        "modelcycle.distributed._trials": ("DaskExecutor", "optuna_storage"),
    },
)
