"""Prediction and feedback logs and monitoring reports in object storage (``s3://bucket/prefix``).

The object store holds what a local log root holds, under the same names
(``prefix/predictions/<model>/<segment>.parquet``, ``prefix/feedback/...``,
``prefix/reports/<model>/monitor.json``...), so servers, workers and monitors on
several machines share one log. DuckDB and pyarrow still read local files:

- **Writers** write each segment to a private staging folder on their own machine
  (:attr:`LogLayout.staging <modelcycle.store.LogLayout.staging>`), then upload every
  closed segment with one PUT (:meth:`ObjectLogs.upload_segments`): an object store
  makes an object visible only when its PUT completes, so a reader never sees half a
  segment. The staged copy is deleted only once the uploaded object's size is
  confirmed; an upload that fails leaves it staged for the next attempt, so no row is
  lost while the store is unreachable.
- **Readers** list a folder's published segments and copy the missing ones into a
  local mirror (:meth:`ObjectLogs.mirror`) before reading it. Segment names are unique
  per writer and a segment never changes once published, so the mirror is a cache
  keyed by name (each copy's size is checked against the listing).
- **Reports** are rewritten in place (the latest report, the drift history): the mirror
  refreshes a file whose size or time differs from the published one, and a monitor
  publishes what it rewrote (:meth:`ObjectLogs.upload_changed`). Two monitors of one
  model recording at the same moment may lose one drift-history line (the last upload
  wins); the latest report is whole either way.

Credentials come from the environment, as for artifacts (see :mod:`._objects`); a URL
carrying them is refused, and URLs are shown with any user part hidden.

Thread- and process-safety: several threads and processes (``serve --workers``) may
upload the same staging folder and mirror into the same folder: uploads of one segment
write the same bytes, and a mirrored file is replaced atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from modelcycle.core import IntegrityError, WorkspaceError
from modelcycle.store._files import private_folder, private_writer
from modelcycle.store._objects import client_error, object_filesystem, parse_object_url

_LOG = logging.getLogger("modelcycle.store")
#: Objects a mirror downloads at once (concurrent requests; their bytes are held in memory).
DOWNLOAD_BATCH = 32
#: How far a mirrored report's file time may be from its object's (file systems round).
_TIME_SLACK_S = 0.001


class ObjectLogs:
    """The log root of a workspace in an object store.

    Parameters
    ----------
    url:
        ``s3://bucket/prefix``.
    filesystem:
        An fsspec filesystem for the URL's scheme; by default one made from the
        environment's credentials and endpoint.

    Examples
    --------
    >>> logs = ObjectLogs("s3://logs/team-a", filesystem=object())
    >>> logs.url, logs.key("predictions/churn")
    ('s3://logs/team-a', 'logs/team-a/predictions/churn')
    """

    def __init__(self, url: str, *, filesystem: Any = None) -> None:
        self.scheme, self.root = parse_object_url(url, what="log URL")
        self.url = f"{self.scheme}://{self.root}"
        self._fs = object_filesystem(self.scheme, what="logs") if filesystem is None else filesystem

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (``predictions/churn/x.parquet``) under the root."""
        return f"{self.root}/{relative}"

    def upload_segments(self, staging: Path, relative: str) -> int:
        """Upload every closed segment under ``staging`` to ``relative``; return how many.

        Each segment goes up with one PUT under its own name, its stored size is checked,
        and only then is the staged file deleted. A segment another process published
        meanwhile is skipped.

        Raises
        ------
        WorkspaceError
            The store refused or could not be reached; this segment and the ones not
            tried yet stay staged for the next call.
        """
        published = 0
        for path in sorted(staging.rglob("*.parquet")) if staging.is_dir() else []:
            key = self.key(f"{relative}/{path.relative_to(staging).as_posix()}")
            with self._reaching("publish a log segment to"):
                try:
                    expected = path.stat().st_size
                    self._fs.put_file(str(path), key)
                except FileNotFoundError:
                    if path.exists():  # the bucket is missing, not the staged file
                        raise
                    continue  # published (and deleted) by another process on this home
                stored = int(self._fs.info(key)["size"])
            if stored != expected:
                raise WorkspaceError(
                    f"uploading log segment {path.name} to {self.url!r} stored {stored} of "
                    f"{expected} bytes; it stays staged in {str(staging)!r} and is retried"
                )
            path.unlink(missing_ok=True)
            published += 1
        return published

    def mirror(
        self,
        relative: str,
        folder: Path,
        *,
        mutable: bool = False,
        only: Collection[str] | None = None,
    ) -> Path:
        """Make ``folder`` hold exactly the files published under ``relative``; return it.

        With ``only``, just those of the published files are brought up to date (a
        worker reading part of a log), and no other local file is removed.

        Missing files are downloaded, up to :data:`DOWNLOAD_BATCH` at once (each written
        to a temporary name, its size checked, then renamed); local files no longer
        published are removed. With ``mutable`` (reports) a file whose size or time
        differs from its object's is downloaded again; without it (segments: immutable)
        a file of the right size is kept as it is.

        Raises
        ------
        WorkspaceError
            The store could not be reached or refused.
        IntegrityError
            A downloaded object does not have the size its listing says.
        """
        published = self._listing(relative)
        if only is not None:
            wanted = set(only)
            published = {name: info for name, info in published.items() if name in wanted}
        private_folder(folder)
        missing = [
            (name, info)
            for name, info in published.items()
            if not _current(folder / name, info, mutable=mutable)
        ]
        for start in range(0, len(missing), DOWNLOAD_BATCH):
            batch = missing[start : start + DOWNLOAD_BATCH]
            keys = [self.key(f"{relative}/{name}") for name, _ in batch]
            with self._reaching("read logs from"):
                contents = self._fs.cat(keys, on_error="raise")  # concurrent requests
            for key, (name, info) in zip(keys, batch, strict=True):
                self._keep(key, contents[key], folder / name, info, mutable=mutable)
        for path in _files(folder) if only is None else []:
            if path.relative_to(folder).as_posix() not in published:
                path.unlink(missing_ok=True)
        return folder

    def upload_changed(self, folder: Path, relative: str) -> int:
        """Upload the files of ``folder`` that differ from their published copy; return how many.

        Each file is one PUT; a file left as the mirror made it is not uploaded again.

        Raises
        ------
        WorkspaceError
            The store could not be reached or refused.
        """
        if not folder.is_dir():
            return 0
        published = self._listing(relative)
        uploaded = 0
        for path in _files(folder):
            name = path.relative_to(folder).as_posix()
            if name in published and _current(path, published[name], mutable=True):
                continue
            key = self.key(f"{relative}/{name}")
            with self._reaching("publish a report to"):
                self._fs.put_file(str(path), key)
                info = self._fs.info(key)
            _stamp(path, info)
            uploaded += 1
        return uploaded

    def _listing(self, relative: str) -> dict[str, dict[str, Any]]:
        """``{name: info}`` of every object under ``relative`` (names are relative to it)."""
        prefix = self.key(relative)
        with self._reaching("list logs in"):
            self._fs.invalidate_cache(prefix)  # a long-lived process must see new segments
            found = self._fs.find(prefix, detail=True)
        listing = {}
        for key, info in found.items():
            name = str(key).removeprefix(prefix + "/")
            if name == str(key) or not _safe_name(name):
                _LOG.warning("logs: ignored object %r in %s (not a log file name)", key, self.url)
                continue
            listing[name] = info
        return listing

    def _keep(
        self, key: str, data: bytes, target: Path, info: dict[str, Any], *, mutable: bool
    ) -> None:
        """Write a downloaded object into the mirror, if it has the size its listing says."""
        expected = int(info["size"])
        if len(data) != expected:
            raise IntegrityError(
                f"log object {key!r} in {self.url!r} has {len(data)} bytes, its listing "
                f"says {expected}; it was not mirrored"
            )
        with private_writer(target) as out:
            out.write(data)
        if mutable:
            _stamp(target, info)

    @contextlib.contextmanager
    def _reaching(self, action: str) -> Iterator[None]:
        """Turn the object store's refusals into a :class:`WorkspaceError` naming the URL."""
        try:
            yield
        except FileNotFoundError as exc:
            raise WorkspaceError(
                f"cannot {action} {self.url!r}: the bucket does not exist ({exc})"
            ) from None
        except PermissionError as exc:
            raise WorkspaceError(
                f"the object store refused to let modelcycle {action} {self.url!r} ({exc}); "
                "check the credentials in the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE...)"
            ) from None
        except Exception as exc:
            if isinstance(exc, WorkspaceError) or not (
                isinstance(exc, OSError) or client_error(exc)
            ):
                raise
            raise WorkspaceError(
                f"cannot {action} {self.url!r}: {exc}; check the URL, that the bucket exists "
                "and AWS_ENDPOINT_URL for an S3-compatible server"
            ) from None


#: One ``/``-separated part of a name a log folder may hold: what modelcycle writes there
#: (segments ``<stamp>-<host>.<pid>.<start>-<hex>.parquet``, ``monitor.json``,
#: ``drift_history.jsonl``...). It starts with a letter or digit, so no hidden file, no
#: ``.`` or ``..``; no escape, glob, control or non-ASCII character can pass.
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
#: Folders deep a published name may be, below the folder mirrored.
_MAX_PARTS = 4


def _safe_name(name: str) -> bool:
    """Whether an object's name under a log folder is one modelcycle could have written.

    Every part must fully match :data:`_NAME_PART` (a rule of what is allowed, not a list
    of what is refused), and there are at most :data:`_MAX_PARTS` of them.
    """
    parts = name.split("/")
    return len(parts) <= _MAX_PARTS and all(_NAME_PART.fullmatch(part) for part in parts)


def _files(folder: Path) -> list[Path]:
    """The finished files under ``folder`` (hidden ones are being written)."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    ]


def _modified(info: dict[str, Any]) -> float | None:
    """An object's last-modified time (seconds since the epoch), if the listing gives one."""
    value = info.get("LastModified") or info.get("last_modified") or info.get("mtime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _current(path: Path, info: dict[str, Any], *, mutable: bool) -> bool:
    """Whether the local ``path`` already holds the object ``info`` describes."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if stat.st_size != int(info["size"]):
        return False
    if not mutable:
        return True
    modified = _modified(info)
    return modified is not None and abs(stat.st_mtime - modified) <= _TIME_SLACK_S


def _stamp(path: Path, info: dict[str, Any]) -> None:
    """Give ``path`` its object's time, so the next mirror or upload knows it is current."""
    modified = _modified(info)
    if modified is not None:
        os.utime(path, (modified, modified))
