"""Benchmark: what artifacts and logs cost in object storage against a local folder.

Issue 16 moves a shared workspace's artifacts into a bucket (``--artifacts s3://...``).
This measures the same ``ArtifactStore`` calls on both stores: ``put_bytes`` (hash,
upload under ``.partial/``, check the size, copy to the final key, delete the partial
object; locally: write a temporary file and rename it) and ``read_bytes`` (download and
re-hash), for blobs of 16 KiB, 1 MiB and 16 MiB. Every write stores new random content
(a content-addressed store skips a blob it has). The two stores are measured
alternately; the table shows the medians and the cost ratio *object / local*.

The logs (``--log-url s3://...``) are measured the same way: a *flush* writes one
prediction segment of 1,000 rows (30 inputs each, as a server's writer thread does) and,
in the bucket, publishes it (one PUT, a size check, the staged file deleted); a
*monitoring read* is ``read_predictions`` over a model's log of 20 such segments, *cold*
(a new workspace folder: every segment is mirrored first) and *warm* (the mirror is
current: one listing, nothing downloaded).

The bucket is on moto's S3 server on 127.0.0.1 (as in the tests): no network latency,
but the full HTTP and signing path of s3fs/aiobotocore, so the ratio is a floor; a
real bucket adds a round trip (1-20 ms in one region) per request, and a write makes four.

Run::

    .venv/bin/python benchmarks/object_storage.py --repeat 9
    .venv/bin/python benchmarks/object_storage.py --quick --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from _common import machine, stdout_console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from modelcycle.core import Settings
from modelcycle.monitoring import read_predictions
from modelcycle.store import (
    PREDICTION_SCHEMA,
    ArtifactStore,
    LogLayout,
    inputs_json,
    open_artifact_store,
    write_segment,
)

SIZES = {"16 KiB": 16 * 1024, "1 MiB": 1024 * 1024, "16 MiB": 16 * 1024 * 1024}


def _bucket() -> tuple[object, str]:
    """Start moto's S3 server on 127.0.0.1, make a bucket; return the server and its URL."""
    import fsspec
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(bucket)
    return server, f"s3://{bucket}/artifacts"


def measure(
    stores: dict[str, ArtifactStore], size: int, repeat: int
) -> dict[str, dict[str, list[float]]]:
    """Seconds of each write and read of a ``size``-byte blob, per store, interleaved."""
    times: dict[str, dict[str, list[float]]] = {n: {"write": [], "read": []} for n in stores}
    for _ in range(repeat):
        data = os.urandom(size)
        for name, store in stores.items():
            start = time.perf_counter()
            sha256 = store.put_bytes(data).sha256
            middle = time.perf_counter()
            read = store.read_bytes(sha256)
            end = time.perf_counter()
            times[name]["write"].append(middle - start)
            times[name]["read"].append(end - middle)
            if read != data:
                raise SystemExit(f"{name} returned other bytes than it stored")
    return times


SEGMENT_ROWS = 1000
LOG_SEGMENTS = 20


def _segment(seed: int) -> Any:
    """A prediction segment of :data:`SEGMENT_ROWS` rows with 30 numeric inputs each."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    rows = [
        {
            "request_id": uuid.uuid4().hex,
            "time": now,
            "model": "churn",
            "version": 1,
            "row": 0,
            "inputs": inputs_json({f"x{j}": float(v) for j, v in enumerate(values)}),
            "prediction": "1",
            "probabilities": [0.3, 0.7],
            "latency_ms": 2.0,
            "route": "primary",
            "error": None,
        }
        for values in rng.normal(size=(SEGMENT_ROWS, 30))
    ]
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)


def _flush(layout: LogLayout, table: Any) -> None:
    """What a server's log writer does with one model's rows: write, then publish."""
    write_segment(layout.staging.predictions_of("churn"), table)
    layout.publish_predictions()


def measure_logs(url: str, folder: Path, repeat: int) -> list[dict[str, Any]]:
    """Median seconds of a log flush and of a cold and a warm monitoring read, per store."""

    def layout(kind: str, home: str) -> LogLayout:
        log_url = url if kind == "object" else str(folder / "local-logs")
        return LogLayout.of(Settings(home=folder / home, log_url=log_url))

    times: dict[str, dict[str, list[float]]] = {
        kind: {"flush": [], "cold read": [], "warm read": []} for kind in ("local", "object")
    }
    for kind in times:
        writer = layout(kind, "writer")
        for index in range(max(repeat, LOG_SEGMENTS)):
            table = _segment(index)
            start = time.perf_counter()
            _flush(writer, table)
            times[kind]["flush"].append(time.perf_counter() - start)
    for index in range(repeat):
        for kind in times:
            reader = layout(kind, f"reader-{index}")
            for label in ("cold read", "warm read"):
                start = time.perf_counter()
                rows = len(read_predictions(reader, "churn"))
                times[kind][label].append(time.perf_counter() - start)
                if rows != SEGMENT_ROWS * max(repeat, LOG_SEGMENTS):
                    raise SystemExit(f"{kind} read {rows} rows")
    rows = []
    for operation in ("flush", "cold read", "warm read"):
        local = statistics.median(times["local"][operation])
        remote = statistics.median(times["object"][operation])
        size = f"{SEGMENT_ROWS:,} rows" if operation == "flush" else "20 segments"
        rows.append(
            {"operation": f"log {operation}", "size": size, "local_median_s": local,
             "object_median_s": remote, "object_over_local": remote / local}
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no 16 MiB blob")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and v > 2**20)}

    server, url = _bucket()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            stores = {
                "local": open_artifact_store(str(Path(folder) / "artifacts")),
                "object": open_artifact_store(url),
            }
            stores["object"].put_bytes(b"warm-up")  # the first call opens the S3 session
            for label, size in sizes.items():
                times = measure(stores, size, repeat)
                for operation in ("write", "read"):
                    local = statistics.median(times["local"][operation])
                    remote = statistics.median(times["object"][operation])
                    rows.append(
                        {"operation": operation, "size": label, "local_median_s": local,
                         "object_median_s": remote, "object_over_local": remote / local}
                    )  # fmt: skip
            logs = url.replace("/artifacts", "/logs")
            rows += measure_logs(logs, Path(folder), repeat)
    finally:
        server.stop()  # type: ignore[attr-defined]

    if args.json:
        print(json.dumps({"machine": machine(), "repeat": repeat, "rows": rows}, indent=2))
        return
    title = "artifacts and logs: object storage (moto on 127.0.0.1) vs a local folder"
    table = Table(title=f"{title}, median of {repeat}")
    for column in ("operation", "size", "local ms", "object ms", "object / local"):
        table.add_column(column, justify="left" if column in ("operation", "size") else "right")
    for row in rows:
        table.add_row(
            row["operation"], row["size"], f"{row['local_median_s'] * 1000:.2f}",
            f"{row['object_median_s'] * 1000:.2f}", f"{row['object_over_local']:.1f}×",
        )  # fmt: skip
    stdout_console().print(table)


if __name__ == "__main__":
    main()
