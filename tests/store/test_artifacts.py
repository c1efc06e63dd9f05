"""The content-addressed artifact store: atomic, verified, and honest about tampering."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.core import IntegrityError, NotFound, ValidationError, WorkspaceError
from modelcycle.store import LocalArtifactStore, open_artifact_store


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_blob_is_named_by_its_sha256(store: LocalArtifactStore) -> None:
    blob = store.put_bytes(b"model weights")
    assert blob.sha256 == hashlib.sha256(b"model weights").hexdigest()
    assert blob.size == 13
    assert store.exists(blob.sha256)
    assert store.put_bytes(b"model weights") == blob  # stored once


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=5000))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    store = LocalArtifactStore(tmp_path_factory.mktemp("hyp"))
    blob = store.put_bytes(data)
    assert store.read_bytes(blob.sha256, size=blob.size) == data


def test_no_partial_files_are_left(store: LocalArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * (3 << 20))
    blob = store.put_file(source)
    leftovers = [p for p in store.root.rglob("*") if p.name.startswith(".partial-")]
    assert leftovers == []
    out = store.copy_to(blob.sha256, tmp_path / "copy" / "big.bin", size=blob.size)
    assert out.read_bytes() == source.read_bytes()


def test_tampered_blob_is_refused(store: LocalArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"abc")
    path = Path(store._blob_path(blob.sha256))
    path.chmod(0o644)
    path.write_bytes(b"abd")
    with pytest.raises(IntegrityError, match="was modified") as caught:
        store.read_bytes(blob.sha256, name="model.txt")
    assert "'model.txt'" in str(caught.value)
    assert caught.value.details["expected_sha256"] == blob.sha256
    with pytest.raises(IntegrityError):
        store.copy_to(blob.sha256, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []


def test_truncated_and_missing_blobs_are_refused(store: LocalArtifactStore) -> None:
    blob = store.put_bytes(b"abcdef")
    path = Path(store._blob_path(blob.sha256))
    path.chmod(0o644)
    path.write_bytes(b"abc")
    with pytest.raises(IntegrityError, match="has 3 bytes, expected 6"):
        store.read_bytes(blob.sha256, size=6)
    path.unlink()
    with pytest.raises(IntegrityError, match="missing from the artifact store"):
        store.verify(blob.sha256)


def test_bad_inputs(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.put_file(tmp_path / "nope.txt")
    with pytest.raises(ValidationError, match="not a regular file"):
        store.put_file(tmp_path)
    with pytest.raises(ValidationError, match="not a lowercase hex SHA-256"):
        store.read_bytes("../../etc/passwd")
    with pytest.raises(ValidationError, match="scheme 'ftp'"):
        open_artifact_store("ftp://host/prefix")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WorkspaceError, match="cannot create artifact folder"):
        LocalArtifactStore(blocker / "artifacts")
