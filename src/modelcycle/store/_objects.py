"""Artifacts in object storage (``s3://bucket/prefix``), through fsspec and s3fs.

Several machines share a workspace when its database is PostgreSQL and its artifacts
live in a bucket. The contract is the one of :class:`~modelcycle.store.ArtifactStore`:
a blob's key is its SHA-256 (``prefix/ab/cd/abcd…``), every read is hashed against it,
and publishing is atomic. An object store has no rename, so a blob is uploaded under a
temporary key (``prefix/.partial/<random>``), its size checked there, then copied
server-side to its final key and the temporary object deleted: a reader listing or
reading the final key sees the whole blob or nothing (S3 makes an object visible only
when its PUT or COPY completes). A crashed writer leaves at most a ``.partial/`` object,
never a wrong blob under a digest.

Credentials come from the environment, as for every AWS client (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for MinIO or another
S3-compatible server...); a URL carrying credentials is refused, so none ends up in
settings, logs or messages. fsspec and s3fs are imported only when such a URL is opened:
a local workspace pays nothing for them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from modelcycle.core import ValidationError, WorkspaceError
from modelcycle.core._redact import redact_url
from modelcycle.store._artifacts import ArtifactStore

#: URL schemes of the object stores artifacts may live in (an exact allow-list).
OBJECT_SCHEMES = frozenset({"s3"})


def parse_object_url(url: str, *, what: str = "artifact URL") -> tuple[str, str]:
    """``(scheme, "bucket/prefix")`` of an object-store URL, or a :class:`ValidationError`.

    ``what`` names the URL in messages (``"log URL"``...).

    Examples
    --------
    >>> parse_object_url("s3://models/team-a/")
    ('s3', 'models/team-a')
    """
    parts = urlsplit(url)
    shown = shown_url(url)
    if parts.scheme not in OBJECT_SCHEMES:
        raise ValidationError(
            f"{what} {shown!r} uses scheme {parts.scheme!r}; expected a folder, a "
            f"file:// URL or one of {sorted(OBJECT_SCHEMES)} (s3://bucket/prefix)"
        )
    if "@" in parts.netloc or parts.password or parts.username:
        raise ValidationError(
            f"{what} {shown!r} carries credentials; give them in the environment "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE), never in the URL"
        )
    if not parts.netloc or parts.query or parts.fragment or parts.port is not None:
        raise ValidationError(
            f"{what} {shown!r} is not of the form {parts.scheme}://bucket/prefix "
            "(a bucket name, an optional prefix, no query, port or fragment)"
        )
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValidationError(f"{what} {shown!r} has a '.' or '..' segment in its prefix")
    return parts.scheme, "/".join([parts.netloc, *segments])


def object_filesystem(scheme: str, *, what: str = "artifacts") -> Any:
    """The fsspec filesystem of ``scheme``, imported here: local workspaces never import it."""
    try:
        import fsspec

        return fsspec.filesystem(scheme)
    except ImportError as exc:
        raise WorkspaceError(
            f"{what} in {scheme}:// need fsspec and s3fs ({exc}); install them with "
            "pip install 'modelcycle[s3]'"
        ) from None


def client_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the AWS client's own (an endpoint that does not answer...).

    botocore's errors are not :class:`OSError`; they are told apart by their module, so
    a local workspace never imports botocore to check.

    >>> client_error(ValueError("x"))
    False
    """
    return any(
        kind.__module__.partition(".")[0] in ("botocore", "aiobotocore")
        for kind in type(exc).__mro__
    )


def shown_url(url: str) -> str:
    """``url`` for a message: secret query values and any user part (even a bare token) hidden."""
    scheme, separator, rest = redact_url(url).partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{path}"


class ObjectArtifactStore(ArtifactStore):
    """Blobs in an object store: ``s3://bucket/prefix/ab/cd/abcd…``.

    ``filesystem`` is an fsspec filesystem for the URL's scheme; by default one is made
    from the environment's credentials and endpoint.
    """

    def __init__(self, url: str, *, filesystem: Any = None) -> None:
        self.scheme, self.root = parse_object_url(url)
        self.url = f"{self.scheme}://{self.root}"
        self._fs = object_filesystem(self.scheme) if filesystem is None else filesystem

    def _key(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _blob_path(self, sha256: str) -> str:
        return f"{self.scheme}://{self._key(sha256)}"

    def _exists(self, sha256: str) -> bool:
        with self._reaching():
            return bool(self._fs.exists(self._key(sha256)))

    def _write(self, sha256: str, source: Path) -> None:
        temporary = f"{self.root}/.partial/{uuid.uuid4().hex}"
        expected = source.stat().st_size
        with self._reaching(missing="the bucket does not exist"):
            try:
                self._fs.put_file(str(source), temporary)
                uploaded = int(self._fs.info(temporary)["size"])
                if uploaded != expected:
                    raise WorkspaceError(
                        f"uploading artifact {sha256[:12]} to {self.url!r} stored {uploaded} "
                        f"of {expected} bytes; it was not published"
                    )
                self._fs.copy(temporary, self._key(sha256))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm_file(temporary)

    def _open(self, sha256: str) -> BinaryIO:
        with self._reaching():
            handle: BinaryIO = self._fs.open(self._key(sha256), "rb")
        return handle

    @contextlib.contextmanager
    def _reaching(self, *, missing: str | None = None) -> Iterator[None]:
        """Turn the object store's refusals into a :class:`WorkspaceError` naming the URL.

        A missing object stays a :class:`FileNotFoundError` (the caller names the blob)
        unless ``missing`` says what it means here.
        """
        try:
            yield
        except FileNotFoundError as exc:
            if missing is None:
                raise
            raise WorkspaceError(
                f"cannot write to artifact store {self.url!r}: {missing} ({exc})"
            ) from None
        except PermissionError as exc:
            raise WorkspaceError(
                f"the object store refused access to artifact store {self.url!r} ({exc}); "
                "check the credentials in the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE...)"
            ) from None
        except Exception as exc:
            if not (isinstance(exc, OSError) or client_error(exc)):
                raise
            raise WorkspaceError(
                f"cannot reach artifact store {self.url!r}: {exc}; check the URL, that the "
                "bucket exists and AWS_ENDPOINT_URL for an S3-compatible server"
            ) from None
