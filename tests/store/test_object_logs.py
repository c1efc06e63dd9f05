"""Logs and reports in object storage: staged, published by one PUT, mirrored (issue 16)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelcycle.core import IntegrityError, Settings, ValidationError, WorkspaceError
from modelcycle.serving._log import FeedbackLog
from modelcycle.store import (
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    LogLayout,
    ObjectLogs,
    write_segment,
)
from modelcycle.store._object_logs import _safe_name
from tests.conftest import ObjectStore


def _fs() -> Any:
    return fsspec.filesystem("s3", skip_instance_cache=True)


def _labels(count: int, model: str = "churn") -> pa.Table:
    rows = [
        {
            "feedback_id": uuid.uuid4().hex,
            "time": datetime.now(UTC),
            "model": model,
            "request_id": uuid.uuid4().hex,
            "row": 0,
            "inputs": None,
            "label": str(i % 2),
            "source": "test",
        }
        for i in range(count)
    ]
    return pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)


def _predictions(count: int, model: str = "churn") -> pa.Table:
    rows = [
        {
            "request_id": uuid.uuid4().hex,
            "time": datetime.now(UTC),
            "model": model,
            "version": 1,
            "row": 0,
            "inputs": "{}",
            "prediction": "1",
            "probabilities": None,
            "latency_ms": 1.0,
            "route": "primary",
            "error": None,
        }
        for _ in range(count)
    ]
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)


def _layout(home: Path, url: str) -> LogLayout:
    return LogLayout.of(Settings(home=home, log_url=url))


def _logs_url(object_store: ObjectStore) -> str:
    return object_store.url.replace("/artifacts", "/logs")


def test_segments_are_staged_published_and_mirrored_by_another_home(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    url = _logs_url(object_store)
    writer = _layout(tmp_path / "a", url)
    assert writer.remote is not None and writer.location == url
    staged = write_segment(writer.staging.feedback_of("churn"), _labels(3))
    assert staged.is_relative_to(tmp_path / "a" / "log-staging")
    assert writer.publish_feedback() == 1
    assert not staged.exists()  # removed once the upload was confirmed
    prefix = url.removeprefix("s3://")
    assert _fs().find(prefix) == [f"{prefix}/feedback/churn/{staged.name}"]

    reader = _layout(tmp_path / "b", url)
    folder = reader.feedback_of("churn")
    assert folder.is_relative_to(tmp_path / "b" / "log-mirror")
    assert [p.name for p in folder.glob("*.parquet")] == [staged.name]
    assert pq.read_table(folder / staged.name).num_rows == 3
    assert reader.predictions_of("churn").is_dir()  # nothing published: an empty folder

    write_segment(writer.staging.feedback_of("churn"), _labels(2))
    writer.publish_feedback()
    assert len(list(reader.feedback_of("churn").glob("*.parquet"))) == 2  # listed again


def test_a_worker_fetches_only_the_segments_of_its_part(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    url = _logs_url(object_store)
    writer = _layout(tmp_path / "a", url)
    staged = [
        write_segment(writer.staging.predictions_of("churn"), _predictions(2)) for _ in range(3)
    ]
    assert writer.publish_predictions() == 3
    worker = _layout(tmp_path / "w", url)
    folder = worker.predictions / "churn"
    folder.mkdir(parents=True)
    (folder / "kept.parquet").write_bytes(b"not published, not removed")
    assert worker.segments_of("churn", [staged[1].name]) == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(["kept.parquet", staged[1].name])
    assert pq.read_table(folder / staged[1].name).num_rows == 2
    worker.segments_of("churn", [staged[0].name, "never-published.parquet"])
    assert len(list(folder.iterdir())) == 3  # one more; an unknown name fetches nothing
    local = LogLayout.under(tmp_path / "plain")
    assert local.segments_of("churn", ["x.parquet"]) == tmp_path / "plain" / "predictions" / "churn"


def test_reports_are_published_and_refreshed_when_they_change(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    url = _logs_url(object_store)
    monitor, dashboard = _layout(tmp_path / "a", url), _layout(tmp_path / "b", url)
    (monitor.reports_of("churn") / "monitor.json").write_text('{"rows": 1}')
    assert monitor.publish_reports("churn") == 1
    assert monitor.publish_reports("churn") == 0  # unchanged: not uploaded again
    assert (dashboard.reports_of("churn") / "monitor.json").read_text() == '{"rows": 1}'
    (monitor.reports_of("churn") / "monitor.json").write_text('{"rows": 22}')
    assert monitor.publish_reports("churn") == 1
    assert (dashboard.reports_of("churn") / "monitor.json").read_text() == '{"rows": 22}'


def test_a_missing_bucket_keeps_every_row_staged_until_a_later_flush(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    bucket = f"mc-late-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}/logs"
    layout = _layout(tmp_path / "a", url)
    log = FeedbackLog(
        layout.staging.feedback,
        flush_interval_s=60,
        max_buffer=1000,
        publish=layout.publish_feedback,
    )
    log.append(_labels(4))
    assert log.flush() == 4 and log.failing and log.dropped == 0
    staged = list(layout.staging.feedback.rglob("*.parquet"))
    assert len(staged) == 1
    with pytest.raises(WorkspaceError, match="bucket does not exist"):
        layout.feedback_of("churn")

    _fs().mkdir(bucket)
    assert log.flush() == 0  # nothing new: the staged segment is published
    assert not log.failing and not list(layout.staging.feedback.rglob("*.parquet"))
    reader = _layout(tmp_path / "b", url)
    (segment,) = reader.feedback_of("churn").glob("*.parquet")
    assert segment.name == staged[0].name and pq.read_table(segment).num_rows == 4


def test_a_new_writer_publishes_what_an_earlier_one_left_staged(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    bucket = f"mc-late-{uuid.uuid4().hex[:8]}"
    layout = _layout(tmp_path / "a", f"s3://{bucket}/logs")
    first = FeedbackLog(
        layout.staging.feedback, flush_interval_s=60, max_buffer=10, publish=layout.publish_feedback
    )
    first.append(_labels(2))
    first.close()  # the store is down at shutdown: the rows stay staged
    _fs().mkdir(bucket)
    second = FeedbackLog(
        layout.staging.feedback, flush_interval_s=60, max_buffer=10, publish=layout.publish_feedback
    )
    second.flush()  # nothing of its own to write
    assert len(_fs().find(f"{bucket}/logs/feedback/churn")) == 1


class _Truncating:
    """The real filesystem, except that uploads and downloads carry half the bytes."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_file(self, local: str, remote: str) -> None:
        self._real.pipe(remote, Path(local).read_bytes()[:10])

    def cat(self, keys: list[str], **options: Any) -> dict[str, bytes]:
        return {key: data[:10] for key, data in self._real.cat(keys, **options).items()}


def test_nothing_half_written_is_deleted_from_staging_or_mirrored(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    url = _logs_url(object_store)
    layout = _layout(tmp_path / "a", url)
    staged = write_segment(layout.staging.feedback_of("churn"), _labels(3))
    broken = ObjectLogs(url, filesystem=_Truncating(_fs()))
    with pytest.raises(WorkspaceError, match="stays staged"):
        broken.upload_segments(layout.staging.feedback, "feedback")
    assert staged.exists()
    layout.publish_feedback()  # a good upload replaces the short object
    with pytest.raises(IntegrityError, match="was not mirrored"):
        broken.mirror("feedback/churn", tmp_path / "mirror")
    assert not [p for p in (tmp_path / "mirror").rglob("*") if p.is_file()]


def test_objects_that_would_climb_out_of_the_mirror_are_ignored(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    url = _logs_url(object_store)
    prefix = url.removeprefix("s3://")
    _fs().pipe(f"{prefix}/feedback/churn/.hidden.parquet", b"x")
    _fs().pipe(f"{prefix}/feedback/churn/good.parquet", b"y")
    folder = _layout(tmp_path, url).feedback_of("churn")
    assert sorted(p.name for p in folder.rglob("*")) == ["good.parquet"]


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.parquet",
        "..",
        "a/../b.parquet",
        "a/./b.parquet",
        "-flag.parquet",
        "new\nline.parquet",
        "tab\tname.parquet",
        "nul\x00.parquet",
        "back\\slash.parquet",
        "glob*.parquet",
        "glob?.parquet",
        "br[ack]et.parquet",
        "space name.parquet",
        "%2e%2e/x.parquet",
        "caf\u00e9.parquet",
        "\u202etxt.parquet",
        "a" * 201 + ".parquet",
        "a/b/c/d/e.parquet",
        "a//b.parquet",
        "/abs.parquet",
        "",
    ],
)
def test_a_published_name_passes_only_if_modelcycle_could_have_written_it(name: str) -> None:
    assert not _safe_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "20261204T235501123456-host.example.41.1733356500-0a1b2c3d.parquet",
        "monitor.json",
        "drift_history.jsonl",
        "plotly-2.35.2.min.js",
    ],
)
def test_the_names_modelcycle_writes_pass(name: str) -> None:
    assert _safe_name(name)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://AKIA:sekrit@bucket/logs", "carries credentials"),
        ("gs://bucket/logs", "uses scheme 'gs'"),
        ("s3://bucket/../logs", "'.' or '..'"),
        ("s3://bucket/logs?x=1", "is not of the form"),
    ],
)
def test_bad_log_urls_are_refused_without_showing_secrets(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        _layout(tmp_path, url)
    assert "sekrit" not in str(caught.value) and "log URL" in str(caught.value)
    assert "sekrit" not in repr(Settings(home=tmp_path, log_url=url))


def test_a_local_log_url_is_a_folder_and_log_root_conflicts(tmp_path: Path) -> None:
    layout = _layout(tmp_path / "ws", str(tmp_path / "logs"))
    assert layout.remote is None and layout.predictions == tmp_path / "logs" / "predictions"
    assert layout.staging is layout
    file_layout = _layout(tmp_path / "ws", f"file://{tmp_path / 'logs'}")
    assert file_layout == layout
    with pytest.raises(ValueError, match="give only one"):
        Settings(home=tmp_path, log_url="s3://b/logs", log_root=tmp_path)


def test_an_unreachable_store_loses_no_row_and_says_where_it_was(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    """The S3 server down (nothing listens at its address): rows wait staged, then go up."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = fsspec.filesystem(
        "s3",
        skip_instance_cache=True,
        endpoint_url=f"http://127.0.0.1:{closed}",
        config_kwargs={"retries": {"max_attempts": 1}},
    )
    down.retries = 1  # s3fs's own retries of a refused connection, with back-off
    url = _logs_url(object_store)
    layout = _layout(tmp_path / "a", url)
    unreachable = LogLayout(
        layout.predictions,
        layout.feedback,
        layout.reports,
        remote=ObjectLogs(url, filesystem=down),
        staged=layout.staged,
    )
    log = FeedbackLog(
        unreachable.staging.feedback,
        flush_interval_s=60,
        max_buffer=1000,
        publish=unreachable.publish_feedback,
    )
    log.append(_labels(5))
    assert log.flush() == 5 and log.failing
    with pytest.raises(WorkspaceError, match="cannot list logs in 's3://") as caught:
        unreachable.feedback_of("churn")
    assert object_store.environment["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)
    log.publish = layout.publish_feedback  # the server is back
    log.flush()
    assert not log.failing
    (segment,) = _layout(tmp_path / "b", url).feedback_of("churn").glob("*.parquet")
    assert pq.read_table(segment).num_rows == 5
