"""Sensitive input columns in the prediction log: hashed with a workspace salt, or dropped.

A column is sensitive when the model's signature marks it (``InputSpec.sensitive``,
filled by ``modelcycle train`` from the data schema). Hashing keeps equal values
equal (so a monitor can still count distinct values and join on them) without
keeping the value: ``sha256:<hex>`` of the salt and the value's JSON. The salt is
per workspace, so hashes from two workspaces do not match.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import orjson

from modelcycle.core import WorkspaceError
from modelcycle.store import create_private, private_folder

SensitiveMode = Literal["hash", "drop"]
SALT_FILE = "prediction-log.salt"


class Redactor:
    """Hashes or drops the sensitive fields of logged rows.

    Parameters
    ----------
    mode:
        ``hash`` (salted SHA-256) or ``drop``.
    salt:
        Secret bytes mixed into every hash.

    Examples
    --------
    >>> Redactor("drop", b"salt").row({"age": 31, "email": "a@b.c"}, frozenset({"email"}))
    {'age': 31}
    """

    def __init__(self, mode: SensitiveMode, salt: bytes) -> None:
        self.mode = mode
        self.salt = salt

    def row(self, row: dict[str, Any], sensitive: frozenset[str]) -> dict[str, Any]:
        """A copy of ``row`` with its sensitive fields hashed or dropped."""
        if not sensitive or sensitive.isdisjoint(row):
            return row
        if self.mode == "drop":
            return {name: value for name, value in row.items() if name not in sensitive}
        return {
            name: self.hash(value) if name in sensitive else value for name, value in row.items()
        }

    def hash(self, value: Any) -> str | None:
        """``sha256:<hex>`` of the salt and the value's JSON (a missing value stays missing)."""
        if value is None:
            return None
        encoded = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
        return "sha256:" + hashlib.sha256(self.salt + encoded).hexdigest()


def workspace_salt(home: Path) -> bytes:
    """The workspace's prediction-log salt, created (mode 0600) on first use."""
    path = Path(home) / SALT_FILE
    if not path.exists():
        private_folder(path.parent)
        try:
            descriptor = create_private(path)
        except FileExistsError:  # another server created it first
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(os.urandom(32).hex())
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise WorkspaceError(
            f"{path} does not hold a hex salt; delete it to create a new one (hashes in "
            "the prediction log will then differ from older ones)"
        ) from exc
