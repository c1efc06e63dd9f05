"""Content-addressed artifact storage: blobs named by their SHA-256, verified on read.

The contract (:class:`ArtifactStore`) is written against a handful of primitive
blob operations, which an object store implements too (``_objects.py``); :class:`LocalArtifactStore`
keeps blobs in a private folder (mode 0700, blobs 0400), writing each to a temporary
file first and renaming it into place, so a reader never sees half a blob.

Thread- and process-safety: concurrent ``put`` of the same content is safe (the
last rename wins and both wrote the same bytes). Blobs are immutable once stored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from modelcycle.core import IntegrityError, NotFound, ValidationError
from modelcycle.store._db import ensure_folder
from modelcycle.store._files import private_writer

_CHUNK = 1 << 20
_BLOB_MODE = 0o400


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """What the store knows of one blob: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


def _check_digest(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValidationError(f"artifact id {sha256!r} is not a lowercase hex SHA-256 digest")


class ArtifactStore(ABC):
    """A store of immutable blobs addressed by the SHA-256 of their content.

    Every read verifies the content against its address and size; a mismatch raises
    :class:`~modelcycle.core.IntegrityError` and nothing unverified reaches the caller.
    """

    @abstractmethod
    def _blob_path(self, sha256: str) -> str:
        """Where the blob lives (a local path or a URL), for messages."""

    @abstractmethod
    def _exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def _write(self, sha256: str, source: Path) -> None:
        """Store ``source`` (already hashed) under ``sha256`` atomically."""

    @abstractmethod
    def _open(self, sha256: str) -> BinaryIO: ...

    def put_file(self, path: str | os.PathLike[str]) -> StoredBlob:
        """Store the content of a file and return its address.

        Raises
        ------
        NotFound
            The file does not exist.
        ValidationError
            The path is a folder or cannot be read.
        """
        source = Path(path)
        if not source.exists():
            raise NotFound(f"artifact file {str(source)!r} does not exist")
        if not source.is_file():
            raise ValidationError(f"artifact path {str(source)!r} is not a regular file")
        blob = StoredBlob(*_hash_file(source))
        if not self._exists(blob.sha256):
            self._write(blob.sha256, source)
        return blob

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store ``data`` and return its address."""
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        try:
            return self.put_file(handle.name)
        finally:
            os.unlink(handle.name)

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this address is stored (its content is not checked)."""
        _check_digest(sha256)
        return self._exists(sha256)

    def read_bytes(self, sha256: str, *, size: int | None = None, name: str | None = None) -> bytes:
        """Return the verified content of a blob."""
        _check_digest(sha256)
        chunks = []
        with self._open_checked(sha256, name) as handle:
            while chunk := handle.read(_CHUNK):
                chunks.append(chunk)
        data = b"".join(chunks)
        self._verify(sha256, hashlib.sha256(data).hexdigest(), len(data), size, name)
        return data

    def copy_to(
        self,
        sha256: str,
        destination: str | os.PathLike[str],
        *,
        size: int | None = None,
        name: str | None = None,
    ) -> Path:
        """Copy a blob to ``destination``, verified; on mismatch nothing is left there."""
        _check_digest(sha256)
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        written = 0
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out, self._open_checked(sha256, name) as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    written += len(chunk)
                    out.write(chunk)
            self._verify(sha256, digest.hexdigest(), written, size, name)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def verify(self, sha256: str, *, size: int | None = None, name: str | None = None) -> None:
        """Re-hash a stored blob; raise :class:`IntegrityError` if it changed."""
        digest = hashlib.sha256()
        total = 0
        with self._open_checked(sha256, name) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                total += len(chunk)
        self._verify(sha256, digest.hexdigest(), total, size, name)

    def _open_checked(self, sha256: str, name: str | None) -> BinaryIO:
        try:
            return self._open(sha256)
        except FileNotFoundError as exc:
            label = f"artifact {name!r}" if name else f"artifact {sha256[:12]}"
            raise IntegrityError(
                f"{label} is missing from the artifact store (expected at "
                f"{self._blob_path(sha256)!r}); it was deleted or the artifact root is wrong"
            ) from exc

    def _verify(
        self, expected: str, actual: str, actual_size: int, size: int | None, name: str | None
    ) -> None:
        label = f"artifact {name!r}" if name else f"artifact {expected[:12]}"
        if size is not None and actual_size != size:
            raise IntegrityError(
                f"{label} at {self._blob_path(expected)!r} has {actual_size} bytes, expected "
                f"{size}; it was truncated or replaced and will not be used",
                details={"expected_size": size, "actual_size": actual_size},
            )
        if actual != expected:
            raise IntegrityError(
                f"{label} at {self._blob_path(expected)!r} has SHA-256 {actual}, expected "
                f"{expected}; it was modified and will not be used",
                details={"expected_sha256": expected, "actual_sha256": actual},
            )


class LocalArtifactStore(ArtifactStore):
    """Blobs in a local (or network-mounted) folder: ``root/ab/cd/abcd…``.

    Examples
    --------
    >>> import tempfile
    >>> store = LocalArtifactStore(tempfile.mkdtemp())
    >>> blob = store.put_bytes(b"hello")
    >>> store.read_bytes(blob.sha256)
    b'hello'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = ensure_folder(Path(root).expanduser().resolve(), what="artifact folder")

    def _blob_path(self, sha256: str) -> str:
        return str(self.root / sha256[:2] / sha256[2:4] / sha256)

    def _exists(self, sha256: str) -> bool:
        return os.path.exists(self._blob_path(sha256))

    def _write(self, sha256: str, source: Path) -> None:
        # Private and read-only: a blob is never changed once stored.
        target = Path(self._blob_path(sha256))
        with (
            private_writer(target, mode=_BLOB_MODE, sync=True) as out,
            open(source, "rb") as handle,
        ):
            shutil.copyfileobj(handle, out, _CHUNK)

    def _open(self, sha256: str) -> BinaryIO:
        return open(self._blob_path(sha256), "rb")


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def open_artifact_store(root: str) -> ArtifactStore:
    """Open the artifact store at ``root``: a folder, a ``file://`` URL or ``s3://bucket/prefix``."""
    if "://" in root:
        scheme, _, rest = root.partition("://")
        if scheme != "file":
            from modelcycle.store._objects import ObjectArtifactStore

            return ObjectArtifactStore(root)
        root = rest
    return LocalArtifactStore(root)
