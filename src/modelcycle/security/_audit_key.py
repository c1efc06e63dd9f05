"""The audit chain's key: a workspace secret kept outside the database.

The key is 32 random bytes, written as 64 hexadecimal characters. It comes from the
``audit_key`` setting (``MODELCYCLE_AUDIT_KEY``) when that is set — the key file is
then neither read nor created — and otherwise from the ``audit_key_file`` setting
(default ``<home>/audit.key``). :func:`create_key_file` makes that file on a
workspace's first use: written in full to a private temporary file (``O_EXCL``, mode
0600 whatever the umask), then linked to its name, which fails if another process
got there first, so no reader ever sees a partial key and two processes never seal
one chain with different keys.

No message, ``repr`` or log line contains a key's text; a key is named by its
:attr:`AuditKey.key_id`, an HMAC of a fixed label that reveals nothing about it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from modelcycle.core import Settings, WorkspaceError

KEY_ENV = "MODELCYCLE_AUDIT_KEY"
_KEY_TEXT = re.compile(r"[0-9a-fA-F]{64}")
_KEY_ID_LABEL = b"modelcycle audit key id"
_EXPECTED = "64 hexadecimal characters (32 random bytes, e.g. from 'openssl rand -hex 32')"


@dataclass(frozen=True)
class AuditKey:
    """The secret that seals the audit chain, and where it came from.

    ``source`` names the file or environment variable (never the key).

    Examples
    --------
    >>> key = AuditKey(bytes(32), source="example")
    >>> key.key_id
    'd105e0e998791e86'
    >>> key
    AuditKey(key_id='d105e0e998791e86', source='example')
    """

    secret: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """A short public name of the key (16 hex digits), stored with the seal."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def mac(self, message: bytes) -> str:
        """HMAC-SHA256 of ``message`` under this key, as 64 hex digits."""
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r}, source={self.source!r})"


@dataclass(frozen=True)
class KeySource:
    """Where a workspace's audit key is looked for: the setting, else the file."""

    file: Path
    text: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeySource:
        """The key source the settings name."""
        given = settings.audit_key.get_secret_value() if settings.audit_key else None
        return cls(settings.resolved_audit_key_file(), given)

    @property
    def where(self) -> str:
        """Where the key is looked for, for messages."""
        if self.text is not None:
            return f"environment variable {KEY_ENV}"
        return f"key file {str(self.file)!r}"

    def load(self) -> AuditKey | None:
        """The key, or ``None`` when the key file does not exist (and no key is set).

        Raises
        ------
        WorkspaceError
            The key setting or the key file does not hold a key, or the file cannot be read.
        """
        if self.text is not None:
            return AuditKey(_parse(self.text, self.where), self.where)
        try:
            text = self.file.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WorkspaceError(
                f"cannot read the audit key file {str(self.file)!r}: {exc.strerror or exc}; "
                f"make it readable by this user or set {KEY_ENV}"
            ) from exc
        return AuditKey(_parse(text, self.where), self.where)

    @property
    def exists(self) -> bool:
        """Whether a key is set or a key file (or a link by its name) is there."""
        return self.text is not None or os.path.lexists(self.file)

    def create(self) -> AuditKey:
        """Load the key, creating the key file first when there is none (see the module).

        Raises
        ------
        WorkspaceError
            As :meth:`load`, or the key file can be neither created nor read.
        """
        if not self.exists:
            create_key_file(self.file)
        key = self.load()
        if key is None:
            raise WorkspaceError(
                f"the audit key file {str(self.file)!r} is a link to a missing file; remove "
                f"the link, point MODELCYCLE_AUDIT_KEY_FILE at the key, or set {KEY_ENV}"
            )
        return key


def _parse(text: str, where: str) -> bytes:
    stripped = text.strip()
    if not _KEY_TEXT.fullmatch(stripped):
        # The text may be a mistyped secret: say how long it was, never what it was.
        raise WorkspaceError(
            f"the audit key in {where} is not valid: expected {_EXPECTED}, got "
            f"{len(stripped)} character(s) of another form"
        )
    return bytes.fromhex(stripped)


def create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` unless a file is there; ``True`` if this call did.

    Raises
    ------
    WorkspaceError
        The folder cannot be created or written.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        _write_private(temporary, (secrets.token_hex(32) + "\n").encode())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        _sync_folder(path.parent)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create the audit key file {str(path)!r}: {exc.strerror or exc}; choose a "
            f"writable place with MODELCYCLE_AUDIT_KEY_FILE or set {KEY_ENV}"
        ) from exc
    return True


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(descriptor, "wb") as handle:
        os.fchmod(descriptor, 0o600)  # exactly 0600, whatever the umask
        handle.write(data)
        handle.flush()
        os.fsync(descriptor)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
