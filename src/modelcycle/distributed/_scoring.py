"""Batch scoring of a partitioned Parquet dataset on a Dask cluster, one task per partition.

Each partition (a ``.parquet`` file of a folder or an ``s3://`` prefix, found recursively)
is scored on a worker by the same code as ``modelcycle score`` on one machine
(:func:`modelcycle.serving.score_file`): the same validation, the same columns, the same
reasons for a rejected row. The worker loads the model version once per process from the
workspace (its database and artifact store must be reachable from every worker, as for
any shared workspace), resolved here first so every partition is scored by the same
version even if an alias moves meanwhile.

The output is a folder (or ``s3://`` prefix) of Parquet files, one per partition that
scored rows, named as the partition (relative to the source), each written under a
temporary name and renamed when complete. Rejected rows of every partition go to one CSV
file here, with the partition's name before the single-machine columns (row, column,
value, reason, values); it is written only when there are rejects.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.core import Settings, ValidationError

if TYPE_CHECKING:
    from distributed import Client
    from modelcycle.serving import ServedModel


@dataclass(frozen=True)
class PartitionSummary:
    """How a partitioned scoring went; ``rejects`` is ``None`` when no row was rejected."""

    scored: int
    rejected: int
    partitions: int
    output: str
    rejects: Path | None


@dataclass(frozen=True)
class _Done:
    """What a worker reports for one partition."""

    name: str
    rows: int
    scored: int
    rejected: int
    rejects_csv: str  # the single-machine reject file's rows, without its header


def portable(settings: Settings) -> str:
    """``settings`` as JSON with every location absolute, for a worker in another folder."""
    resolved = settings.model_copy(
        update={
            "home": settings.home.resolve(),
            "db_url": settings.resolved_db_url(),
            "artifact_root": settings.resolved_artifact_root(),
            "log_root": None,
            "log_url": settings.resolved_log_location(),
        }
    )
    return resolved.model_dump_json()


def partitions(source: str) -> tuple[Any, str, list[str]]:
    """The filesystem, root and sorted Parquet files of ``source`` (a folder or prefix)."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(source)
    root = root.rstrip("/")
    if fs.isfile(root):
        files = [root] if root.endswith(".parquet") else []
    else:
        files = sorted(f for f in fs.find(root) if f.endswith(".parquet"))
    if not files:
        raise ValidationError(
            f"{source!r} holds no .parquet files; with --cluster, score a folder or an "
            "s3:// prefix of Parquet partitions (a partitioned dataset)"
        )
    return fs, root, files


def score_partitions(
    client: Client,
    settings: Settings,
    model: ServedModel,
    source: str,
    output: str,
    *,
    rejects: Path,
    keep: Sequence[str] = (),
    chunk_rows: int = 50_000,
    progress: Callable[[int, int], None] | None = None,
) -> PartitionSummary:
    """Score every Parquet partition of ``source`` into the folder ``output``.

    ``model`` is the version to use, loaded here (its columns are checked here too);
    ``progress(partitions_done, rows)`` is called as each partition ends.

    Raises
    ------
    ValidationError
        ``source`` holds no Parquet files, ``output`` is a folder that is not empty, or a
        partition lacks a column the model requires (the remaining tasks are cancelled).
    """
    from fsspec.core import url_to_fs

    from distributed import as_completed

    fs, root, files = partitions(source)
    out_fs, out_root = url_to_fs(output)
    out_root = out_root.rstrip("/")
    if out_fs.exists(out_root) and (not out_fs.isdir(out_root) or out_fs.ls(out_root)):
        raise ValidationError(
            f"output {output!r} exists and is not an empty folder; with --cluster the output "
            "is a folder of Parquet files, one per partition: name a new one"
        )
    shared = portable(settings)
    names = [_relative(root, f) if f != root else Path(f).name for f in files]
    futures = [
        client.submit(
            _score_partition,
            shared,
            model.name,
            model.version,
            fs.unstrip_protocol(path),
            name,
            out_fs.unstrip_protocol(f"{out_root}/{name}"),
            tuple(keep),
            chunk_rows,
            pure=False,
            key=f"modelcycle-score-{index}-{os.urandom(4).hex()}",
        )
        for index, (path, name) in enumerate(zip(files, names, strict=True))
    ]
    done: list[_Done] = []
    try:
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            done.append(future.result())
            if progress is not None:
                progress(len(done), done[-1].rows)
    except BaseException:
        client.cancel(futures)  # type: ignore[no-untyped-call]
        raise
    done.sort(key=lambda d: d.name)
    rejected = sum(d.rejected for d in done)
    return PartitionSummary(
        scored=sum(d.scored for d in done),
        rejected=rejected,
        partitions=len(done),
        output=output,
        rejects=_write_rejects(rejects, done) if rejected else None,
    )


def _relative(root: str, path: str) -> str:
    return path[len(root) :].lstrip("/")


def _write_rejects(target: Path, done: list[_Done]) -> Path:
    """One reject file for all partitions, written under a temporary name, then renamed."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["partition", "row", "column", "value", "reason", "values"])
        for part in done:
            for row in csv.reader(io.StringIO(part.rejects_csv)):
                writer.writerow([part.name, *row])
    os.replace(partial, target)
    return target


@functools.lru_cache(maxsize=4)
def _served(settings_json: str, name: str, version: int, chunk_rows: int) -> ServedModel:
    """The version, loaded once per worker process (and verified as the server loads it)."""
    from modelcycle.services import Services
    from modelcycle.serving import load_served

    services = Services.open(Settings.model_validate_json(settings_json), create=False)
    try:
        return load_served(services.registry, f"{name}/{version}", max_rows=chunk_rows)
    finally:
        services.close()


def _score_partition(
    settings_json: str,
    name: str,
    version: int,
    source: str,
    partition: str,
    output: str,
    keep: tuple[str, ...],
    chunk_rows: int,
) -> _Done:
    """Score one partition on a worker with the single-machine code, then publish its part."""
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    from modelcycle.serving import score_file

    model = _served(settings_json, name, version, chunk_rows)
    in_fs, in_path = url_to_fs(source)
    out_fs, out_path = url_to_fs(output)
    with tempfile.TemporaryDirectory(prefix="modelcycle-score-") as folder:
        local = Path(folder)
        if isinstance(in_fs, LocalFileSystem):
            part = Path(in_path)
        else:
            part = local / "input.parquet"
            in_fs.get(in_path, str(part))
        summary = score_file(
            model,
            part,
            local / "scored.parquet",
            rejects=local / "rejects.csv",
            chunk_rows=chunk_rows,
            keep=keep,
        )
        if summary.output is not None:
            parent = out_path.rsplit("/", 1)[0]
            out_fs.makedirs(parent, exist_ok=True)
            partial = f"{parent}/.{out_path.rsplit('/', 1)[1]}.partial"
            out_fs.put(str(summary.output), partial)
            out_fs.mv(partial, out_path)
        rows = ""
        if summary.rejects is not None:
            text = summary.rejects.read_text(encoding="utf-8")
            rows = text.split("\n", 1)[1] if "\n" in text else ""
    return _Done(
        partition, summary.scored + summary.rejected, summary.scored, summary.rejected, rows
    )
