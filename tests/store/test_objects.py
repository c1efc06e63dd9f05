"""Artifacts in object storage, on a real S3-compatible server reached through s3fs (issue 16)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

import modelcycle as mc
from modelcycle.core import IntegrityError, ValidationError, WorkspaceError
from modelcycle.store import ObjectArtifactStore, open_artifact_store
from tests.conftest import ObjectStore


def _fs() -> Any:
    return fsspec.filesystem("s3", skip_instance_cache=True)


def test_blobs_round_trip_under_their_digest(object_store: ObjectStore, tmp_path: Path) -> None:
    store = open_artifact_store(object_store.url)
    assert isinstance(store, ObjectArtifactStore)
    data = os.urandom(3 << 20)  # larger than one read chunk
    blob = store.put_bytes(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert store.exists(blob.sha256)
    assert store.put_bytes(data) == blob
    assert store.read_bytes(blob.sha256, size=blob.size) == data
    copied = store.copy_to(blob.sha256, tmp_path / "out" / "model.bin", size=blob.size)
    assert copied.read_bytes() == data
    root = object_store.url.removeprefix("s3://")
    stored = _fs().find(root)
    assert stored == [f"{root}/{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}"]


def test_a_changed_or_missing_object_is_refused(object_store: ObjectStore, tmp_path: Path) -> None:
    store = ObjectArtifactStore(object_store.url)
    blob = store.put_bytes(b"weights")
    key = store._blob_path(blob.sha256)
    _fs().pipe(key, b"weighTs")
    with pytest.raises(IntegrityError, match="was modified") as caught:
        store.read_bytes(blob.sha256, name="model.skops")
    assert key in str(caught.value)
    with pytest.raises(IntegrityError):
        store.copy_to(blob.sha256, tmp_path / "model.skops")
    assert not (tmp_path / "model.skops").exists()
    _fs().pipe(key, b"wei")
    with pytest.raises(IntegrityError, match="has 3 bytes, expected 7"):
        store.read_bytes(blob.sha256, size=7)
    _fs().rm_file(key)
    with pytest.raises(IntegrityError, match="missing from the artifact store"):
        store.verify(blob.sha256)


class _FailingCopy:
    """The real filesystem, except that publishing (the server-side copy) fails."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def copy(self, source: str, target: str) -> None:
        raise ConnectionResetError("connection lost while publishing")


class _TruncatingUpload(_FailingCopy):
    """The real filesystem, except that an upload stores only half the file."""

    def copy(self, source: str, target: str) -> None:
        self._real.copy(source, target)

    def put_file(self, local: str, remote: str) -> None:
        self._real.pipe(remote, Path(local).read_bytes()[:10])


@pytest.mark.parametrize("faulty", [_FailingCopy, _TruncatingUpload])
def test_a_failed_publish_leaves_nothing_under_any_key(
    object_store: ObjectStore, faulty: type[_FailingCopy]
) -> None:
    store = ObjectArtifactStore(object_store.url, filesystem=faulty(_fs()))
    with pytest.raises(WorkspaceError, match="artifact"):
        store.put_bytes(b"x" * 100)
    assert _fs().find(object_store.url.removeprefix("s3://")) == []  # no blob, no .partial
    assert not ObjectArtifactStore(object_store.url).exists(hashlib.sha256(b"x" * 100).hexdigest())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://AKIAX:hunter2@bucket/prefix", "carries credentials"),
        ("s3://hunter2@bucket/prefix", "carries credentials"),
        ("s3://bucket/prefix?secret=hunter2", "not of the form"),
        ("s3://bucket:9000/prefix", "not of the form"),
        ("s3:///prefix", "not of the form"),
        ("s3://bucket/../other", "'..' segment"),
        ("gopher://bucket/prefix", "scheme 'gopher'"),
    ],
)
def test_hostile_urls_are_refused_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        open_artifact_store(url)
    assert "hunter2" not in str(caught.value)


def test_a_missing_bucket_is_a_workspace_error(object_store: ObjectStore) -> None:
    store = ObjectArtifactStore("s3://no-such-bucket-here/prefix")
    with pytest.raises(WorkspaceError, match="bucket does not exist"):
        store.put_bytes(b"x")


def test_the_url_comes_from_the_environment_and_is_shown_redacted(
    object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELCYCLE_ARTIFACTS_URL", object_store.url)
    with mc.Workspace(tmp_path / "ws") as ws:
        assert isinstance(ws.artifacts, ObjectArtifactStore)
        assert ws.settings.resolved_artifact_root() == object_store.url
    assert "hunter2" not in repr(mc.Settings(artifact_root="s3://k:hunter2@b/p"))


def test_a_local_workspace_imports_no_object_store_library(tmp_path: Path) -> None:
    code = (
        "import sys, modelcycle as mc, modelcycle.cli\n"
        f"ws = mc.Workspace({str(tmp_path / 'ws')!r})\n"
        "ws.artifacts.put_bytes(b'x')\n"
        "ws.close()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fsspec', 's3fs', 'botocore'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
