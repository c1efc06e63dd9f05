"""``monitor --cluster``: the prediction log's window selected and decoded on a Dask cluster.

A monitoring pass spends its time reading the log: filtering millions of rows, finding
the latest ones and the seeded sample, and decoding each kept row's JSON inputs into
typed columns (:func:`modelcycle.monitoring.read_predictions`). :class:`ClusterLogReader`
does that reading on the cluster: the model's log segments are cut into parts of similar
size, and each step runs one task per part (see :mod:`modelcycle.monitoring._logparts`:
a scan, the tie at the row-limit boundary, the sample-hash counts, the decoding); between
steps the client merges the parts' short answers into the boundaries one machine would
find. The parts' sample hashes stay on their workers; the client gets their counts per
bucket, then the boundary bucket's few hashes, which give the exact threshold. The frame it
returns is :func:`read_predictions`' frame, row for row, so the drift and estimated
performance computed from it are the single-machine report's. Realized performance and
service health, aggregate queries over narrow columns, stay on the client.

Workers read the log where the workspace keeps it: a folder every worker can reach, or
an object store, from which each task fetches its part's segments into its machine's
mirror (:meth:`modelcycle.store.LogLayout.segments_of`); the client sends segment names
relative to the model's log folder, never paths of its own disk.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelcycle.core import Settings, ValidationError
from modelcycle.distributed._scoring import portable
from modelcycle.monitoring._logparts import (
    BUCKET_BITS,
    PartScan,
    PartWindow,
    decode_part,
    hashes_part,
    merge_buckets,
    merge_cutoff,
    merge_kind,
    merge_parts,
    merge_threshold,
    merge_ties,
    scan_part,
    ties_part,
)
from modelcycle.monitoring._logread import ANSWERED_ROUTES, check_routes, empty_predictions
from modelcycle.monitoring._logsql import (
    Share,
    TimeLike,
    as_time,
    input_types,
    positive,
    prediction_kind,
    sharing,
)
from modelcycle.store import LogLayout

if TYPE_CHECKING:
    from distributed import Client, Future
    from modelcycle.packaging import Signature

#: Bytes of Parquet segments per part, at most (smaller logs are cut into a part per
#: worker thread, so each has work).
PART_BYTES = 256 * 2**20
#: Parts per worker thread, at least, when the log has enough segments: a slow worker
#: then holds up a smaller share of the pass.
PARTS_PER_THREAD = 2

#: ``progress(step, parts_done, parts)`` as each part's task of a step ends.
Progress = Callable[[str, int, int], None]


class ClusterLogReader:
    """:func:`~modelcycle.monitoring.read_predictions` run on a Dask cluster, part by part.

    Pass it as ``reader`` to :func:`~modelcycle.monitoring.monitor` or
    :func:`~modelcycle.monitoring.run_monitoring`: it takes the same arguments and
    returns the same frame.

    Parameters
    ----------
    client:
        A client of the cluster (:func:`modelcycle.distributed.connect`).
    settings:
        The workspace's settings: every worker opens the same log from them.
    progress:
        Called as each part's task of a step ends.
    """

    def __init__(
        self, client: Client, settings: Settings, *, progress: Progress | None = None
    ) -> None:
        self.client = client
        self.settings = settings
        self.progress = progress

    def __call__(
        self,
        layout: LogLayout,
        model: str,
        *,
        signature: Signature | None = None,
        versions: Iterable[int] | None = None,
        last_rows: int | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        routes: Sequence[str] = ANSWERED_ROUTES,
        include_errors: bool = False,
        sample_rows: int | None = None,
        seed: int = 0,
    ) -> pd.DataFrame:
        """Read a window of ``model``'s log as :func:`read_predictions` does."""
        specs = input_types(signature)
        check_routes(routes)
        window = PartWindow(
            specs=specs,
            routes=tuple(routes),
            include_errors=include_errors,
            versions=tuple(versions) if versions is not None else None,
            since=as_time(since, "since") if since is not None else None,
            until=as_time(until, "until") if until is not None else None,
            last_rows=positive(last_rows, "last_rows") if last_rows is not None else None,
            sample_rows=positive(sample_rows, "sample_rows") if sample_rows is not None else None,
            seed=int(seed),
            prediction=prediction_kind(signature),
        )
        folder = layout.predictions_of(model)
        parts = cut_parts(_segments(folder), self._threads())
        if not parts:
            return empty_predictions(specs)
        run = _Steps(self.client, portable(self.settings), model, parts, self.progress)
        window = _select(run, window)
        return merge_parts(run.each("decoding", decode_part, window))

    def _threads(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return max(1, sum(int(info.get("nthreads", 1)) for info in workers.values()))


def cut_parts(segments: Sequence[tuple[str, int]], threads: int) -> list[list[str]]:
    """Segments ``(name, bytes)`` in order, cut into parts of similar size.

    At least :data:`PARTS_PER_THREAD` parts per worker thread (as many as there are
    segments, if fewer), and none over :data:`PART_BYTES` unless one segment is.

    Examples
    --------
    >>> cut_parts([("a", 10), ("b", 10), ("c", 10), ("d", 10)], threads=1)
    [['a', 'b'], ['c', 'd']]
    >>> cut_parts([("a", 10)], threads=4)
    [['a']]
    """
    if not segments:
        return []
    total = sum(size for _, size in segments)
    threads = max(1, threads)
    # A whole number of parts per thread: one left over would run while the others wait.
    per_thread = max(PARTS_PER_THREAD, math.ceil(total / PART_BYTES / threads))
    count = min(per_thread * threads, len(segments))
    ends = list(itertools.accumulate(size for _, size in segments))
    cuts = [0]
    for part in range(1, count):
        # The segment boundary nearest this part's share of the bytes, leaving every part
        # before and after it at least one segment.
        goal = total * part / count
        at = bisect.bisect_left(ends, goal)
        if at > 0 and goal - ends[at - 1] < ends[at] - goal:
            at -= 1
        cuts.append(min(max(at + 1, cuts[-1] + 1), len(segments) - (count - part)))
    cuts.append(len(segments))
    names = [name for name, _ in segments]
    return [names[start:end] for start, end in itertools.pairwise(cuts)]


class _Steps:
    """Runs one task per part for each step of a read, reporting progress."""

    def __init__(
        self,
        client: Client,
        settings_json: str,
        model: str,
        parts: list[list[str]],
        progress: Progress | None,
    ) -> None:
        self.client, self.settings_json, self.model = client, settings_json, model
        self.parts, self.progress = parts, progress

    def each(self, step: str, function: Callable[..., Any], *args: Any) -> list[Any]:
        """``function(files, *args)`` for every part, on the workers; results in part order."""
        futures = self._submit(step, function, args)
        return self._wait(step, futures, gather=True)

    def held(self, step: str, function: Callable[..., Any], *args: Any) -> list[Future[Any]]:
        """:meth:`each`, its results left on the workers that computed them."""
        futures = self._submit(step, function, args)
        self._wait(step, futures, gather=False)
        return futures

    def on_held(
        self, step: str, function: Callable[..., Any], held: list[Future[Any]], *args: Any
    ) -> list[Any]:
        """``function(result, *args)`` for every :meth:`held` result, where it is."""
        tag = os.urandom(4).hex()
        futures = [
            self.client.submit(
                function, part, *args, pure=False, key=f"modelcycle-monitor-{step}-{i}-{tag}"
            )
            for i, part in enumerate(held)
        ]
        try:
            return list(self.client.gather(futures))  # type: ignore[no-untyped-call]
        except BaseException:
            self.client.cancel(futures)  # type: ignore[no-untyped-call]
            raise

    def _submit(
        self, step: str, function: Callable[..., Any], args: tuple[Any, ...]
    ) -> list[Future[Any]]:
        tag = os.urandom(4).hex()
        return [
            self.client.submit(
                _on_part,
                self.settings_json,
                self.model,
                names,
                function,
                *args,
                pure=False,
                key=f"modelcycle-monitor-{step}-{index}-{tag}",
            )
            for index, names in enumerate(self.parts)
        ]

    def _wait(self, step: str, futures: list[Future[Any]], *, gather: bool) -> list[Any]:
        """Each future's result in order (``gather``), reporting progress as each ends."""
        from distributed import as_completed

        order = {future.key: index for index, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        try:
            finished = as_completed(futures, loop=self.client.loop)  # type: ignore[no-untyped-call]
            for done, future in enumerate(finished, start=1):
                if gather or future.status != "finished":  # an error or a cancel raises
                    results[order[future.key]] = future.result()
                if self.progress is not None:
                    self.progress(step, done, len(futures))
        except BaseException:
            self.client.cancel(futures)  # type: ignore[no-untyped-call]
            raise
        return results


def _select(run: _Steps, window: PartWindow) -> PartWindow:
    """``window`` with its prediction kind, row-limit cutoff and sample threshold merged."""
    held = run.held("scanning", scan_part, window)
    scans: list[PartScan] = run.on_held("scanning", PartScan.brief, held, BUCKET_BITS)
    if window.prediction is None:
        window = replace(window, prediction=merge_kind(scans))
    rows = sum(scan.rows for scan in scans)
    if window.last_rows is not None:
        boundary = merge_cutoff(scans, window.last_rows)
        if boundary is not None:
            millis, need = boundary
            ties = run.each("finding the latest rows", ties_part, window, millis, need)
            window = replace(window, cutoff=merge_ties(ties, millis, need))
    if window.sample_rows is None or rows <= window.sample_rows:
        return window
    if window.last_rows is not None:
        # After a cutoff, the rows it keeps are hashed (as many as asked, or more when
        # rows share a key: counted, not assumed).
        held = run.held("sampling", hashes_part, window)
        scans = run.on_held("sampling", PartScan.brief, held, BUCKET_BITS)
    bucket = merge_buckets([scan.buckets for scan in scans], window.sample_rows)
    if bucket is None:
        return window
    low, high, need = bucket
    between = run.on_held("sampling", PartScan.between, held, low, high)
    return replace(window, threshold=merge_threshold(between, need))


def _on_part(
    settings_json: str, model: str, names: list[str], function: Callable[..., Any], *args: Any
) -> Any:
    """On a worker: the part's segment files in the workspace's log, then ``function``."""
    layout = LogLayout.of(Settings.model_validate_json(settings_json))
    folder = layout.segments_of(model, names)  # from an object store, this part's only
    files = [folder / name for name in names]
    missing = [name for name, path in zip(names, files, strict=True) if not path.is_file()]
    if missing:
        raise ValidationError(
            f"segment(s) {missing[:3]} of model {model!r}'s prediction log are not in "
            f"{layout.location} as seen from this worker; with --cluster the log must be in "
            "a folder every worker reaches at the same path, or in an object store"
        )
    with sharing(task_share()):
        return function([str(path) for path in files], *args)


#: Memory of a DuckDB query on a worker: at most this share of the task's part of the
#: worker's memory limit (the rest holds the result and its copy sent back), never less
#: than :data:`MIN_TASK_MB`.
TASK_MEMORY_SHARE = 0.5
MIN_TASK_MB = 128


def task_share() -> Share:
    """What one task on this worker may use: a core (more if ``OMP_NUM_THREADS`` says so,
    the per-task thread count the Dask nanny sets) and its part of the memory limit."""
    from distributed import get_worker

    try:
        threads = max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        threads = 1
    try:
        worker = get_worker()
    except ValueError:  # not on a worker (called directly)
        return Share(threads, 2**20)
    limit = worker.memory_manager.memory_limit
    if not limit:
        return Share(threads, 2**20)
    per_task = limit / max(1, worker.state.nthreads) / 2**20
    return Share(threads, max(MIN_TASK_MB, int(per_task * TASK_MEMORY_SHARE)))


def _segments(folder: Path) -> list[tuple[str, int]]:
    """The model's segments as ``(name relative to its folder, bytes)``, in name order."""
    if not folder.is_dir():
        return []
    found = sorted(folder.rglob("*.parquet"))
    return [(path.relative_to(folder).as_posix(), path.stat().st_size) for path in found]
