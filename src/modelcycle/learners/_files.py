"""The saved form of a learner: model files plus ``learner.json`` with their SHA-256.

A saved learner is a folder. ``learner.json`` holds the metadata (learner name,
task, parameters, fitted sizes) and the SHA-256 of every other file; loading checks
each hash before reading a byte of the model, so a changed file refuses to load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelcycle.core import IntegrityError, NotFound, ValidationError

#: Name of the metadata file in a saved learner's folder.
META_FILE = "learner.json"
#: Version of the saved layout; bumped when ``learner.json`` changes incompatibly.
FORMAT_VERSION = 1


def sha256_of(path: Path) -> str:
    """Return the hexadecimal SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write strict JSON (no NaN), sorted keys, so equal content gives equal bytes."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_meta(folder: Path, meta: dict[str, Any], files: list[str]) -> None:
    """Write ``learner.json`` with ``meta`` and the SHA-256 of each file in ``files``."""
    hashes = {name: sha256_of(folder / name) for name in sorted(files)}
    write_json(folder / META_FILE, {**meta, "format": FORMAT_VERSION, "files": hashes})


def read_meta(folder: Path) -> dict[str, Any]:
    """Read ``learner.json`` and check every listed file against its SHA-256.

    Raises
    ------
    NotFound
        The folder has no ``learner.json``.
    ValidationError
        ``learner.json`` is not a saved learner's metadata.
    IntegrityError
        A listed file is missing or its content changed.
    """
    path = folder / META_FILE
    if not path.is_file():
        raise NotFound(f"{str(folder)!r} has no {META_FILE}; expected a folder written by save()")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ValidationError(
            f"{str(path)!r} is not learner metadata of format {FORMAT_VERSION}; "
            "save the learner again with this version of modelcycle"
        )
    _verify_files(folder, meta.get("files"))
    return meta


def _verify_files(folder: Path, hashes: Any) -> None:
    if not isinstance(hashes, dict) or not hashes:
        raise ValidationError(f"{str(folder / META_FILE)!r} lists no model files")
    for name, expected in hashes.items():
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise IntegrityError(f"saved learner file {str(path)!r} is missing")
        if sha256_of(path) != expected:
            raise IntegrityError(
                f"saved learner file {str(path)!r} was modified: its SHA-256 differs from "
                f"the one recorded in {META_FILE}; refusing to load it"
            )


def require(meta: dict[str, Any], key: str, folder: Path) -> Any:
    """Return ``meta[key]`` or raise a ValidationError naming the file."""
    try:
        return meta[key]
    except KeyError:
        raise ValidationError(
            f"{str(folder / META_FILE)!r} has no {key!r}; expected the output of save()"
        ) from None
