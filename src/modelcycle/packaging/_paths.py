"""File names inside a model package: one exact rule, and opening files without leaving it.

A package's manifest (and a pipeline's own metadata) names files relative to the
package folder. Whoever wrote the manifest could write any name, so every name must
fully match :data:`PACKAGE_PATH`: ASCII letters, digits, ``_``, ``-`` and ``.`` in
``/``-separated segments that do not start with a dot. That refuses ``..``, absolute
paths, backslashes, drive letters, percent-encoding, control characters and look-alike
Unicode alike. Files are then opened one segment at a time without following symbolic
links, so a link planted in the folder cannot lead out of it either.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modelcycle.core import IntegrityError

_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#: A file name inside a package: the whole name must match.
PACKAGE_PATH = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,15}}")
_MAX_LENGTH = 1024


def check_package_path(name: object, what: str) -> str:
    """Return ``name`` if it is a file name that stays inside a package, else refuse it.

    ``what`` says where the name was found (``"manifest.json files"``).
    """
    if not isinstance(name, str) or len(name) > _MAX_LENGTH or not PACKAGE_PATH.fullmatch(name):
        raise IntegrityError(
            f"{what} names the file {name!r}; expected a relative path of letters, digits, "
            "'_', '-' and '.' in '/'-separated parts that do not start with '.'"
        )
    return name


@contextlib.contextmanager
def open_inside(root: Path, name: str) -> Iterator[BinaryIO]:
    """Open the regular file ``root/name`` for reading, following no symbolic link on the way.

    Raises
    ------
    IntegrityError
        The file is missing, is not a regular file, or a part of its path is a link.
    """
    try:
        handle = os.fdopen(_open_fd(root, name), "rb")
    except OSError as exc:
        reason = "is missing" if isinstance(exc, FileNotFoundError) else _refusal(exc)
        raise IntegrityError(f"model package file {name!r} {reason}") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IntegrityError(f"model package file {name!r} is not a regular file")
        yield handle


def _refusal(exc: OSError) -> str:
    return f"cannot be opened inside the package (a symbolic link or special file?): {exc}"


def _open_fd(root: Path, name: str) -> int:
    nofollow = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    parts = name.split("/")
    if os.open not in os.supports_dir_fd:  # no openat(): check each part, then open the path
        for end in range(1, len(parts) + 1):
            if (root.joinpath(*parts[:end])).is_symlink():
                raise OSError(f"{'/'.join(parts[:end])!r} is a symbolic link")
        return os.open(root.joinpath(*parts), nofollow)
    directory = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        *folders, file = parts
        for folder in folders:
            inner = os.open(folder, nofollow | getattr(os, "O_DIRECTORY", 0), dir_fd=directory)
            os.close(directory)
            directory = inner
        return os.open(file, nofollow, dir_fd=directory)
    finally:
        os.close(directory)


def package_files(root: Path) -> set[str]:
    """The names of every file under ``root``; refuse links and special files anywhere."""
    found = set()
    for folder, folders, files in os.walk(root, followlinks=False):
        for entry in [*folders, *files]:
            path = Path(folder, entry)
            mode = path.lstat().st_mode
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise IntegrityError(
                    f"model package entry {relative!r} is a symbolic link; a package holds "
                    "only its own files"
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise IntegrityError(f"model package entry {relative!r} is not a regular file")
            if stat.S_ISREG(mode):
                found.add(relative)
    return found
