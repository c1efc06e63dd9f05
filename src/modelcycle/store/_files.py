"""Private files and folders: how everything in a workspace is created.

A workspace holds what other users of the machine must not read: the database,
prediction and feedback logs (model inputs), reports, model artifacts and the admin
key. So every folder modelcycle creates in it is mode 0700 and every file 0600
(artifact blobs 0400: private and immutable), whatever the process umask: modes are
given when the file or folder is created (``os.open``, ``os.mkdir``) and set again
with ``chmod``, since a umask can only remove bits and 0000 removes none.

Folders that already exist are left as they are (they may be the user's own, such as
a home folder given as ``--workspace``).

Every writer goes through :func:`private_folder`, :func:`write_private`,
:func:`private_writer` or :func:`create_private`; a test walks a used workspace and
checks that nothing in it is readable by others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Mode of every folder modelcycle creates in a workspace.
FOLDER_MODE = 0o700
#: Mode of every file modelcycle writes in a workspace.
FILE_MODE = 0o600


def private_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and its missing parents, each mode 0700; return it.

    Raises
    ------
    OSError
        A parent is a file, or the folder cannot be created.
    """
    path = Path(folder)
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for created in reversed(missing):
        try:
            os.mkdir(created, FOLDER_MODE)
        except FileExistsError:  # made by another process meanwhile (or a file: see below)
            if not created.is_dir():
                raise
            continue
        os.chmod(created, FOLDER_MODE)
    return Path(folder)


def ensure_private_file(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; return whether it was created."""
    try:
        descriptor = create_private(path)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def create_private(path: str | os.PathLike[str]) -> int:
    """Create ``path`` (it must not exist) with mode 0600 and return its open descriptor.

    Raises
    ------
    FileExistsError
        Something exists at ``path``; it is left untouched.
    """
    private_folder(Path(path).parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


@contextlib.contextmanager
def private_writer(
    path: str | os.PathLike[str], *, mode: int = FILE_MODE, sync: bool = False
) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` atomically, with ``mode``, when the block ends.

    The data goes to a hidden temporary file in the same folder (``mkstemp``: mode 0600
    from the start) renamed over ``path`` only if the block succeeds, so a reader sees
    the old file or the new one, never half of one; on an error nothing is left behind.
    ``sync`` forces the data to disk before the rename.
    """
    target = Path(path)
    private_folder(target.parent)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_private(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically with mode 0600; return the path."""
    with private_writer(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)
