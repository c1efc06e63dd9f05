"""The one settings object: every option declared once, with type, default and help.

Environment variables (``MODELCYCLE_<NAME>``) are read when a :class:`Settings` is
built, never at import time and never again afterwards; the CLI and the docs are
generated from the same field declarations.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_serializer
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Options of a workspace and of the processes working on it.

    Examples
    --------
    >>> from modelcycle.core import Settings
    >>> Settings(home="/tmp/ws").home.name
    'ws'
    """

    model_config = SettingsConfigDict(
        env_prefix="MODELCYCLE_", frozen=True, extra="forbid", validate_default=True
    )

    home: Path = Field(
        default=Path(".modelcycle"),
        description="Workspace folder holding modelcycle.db (SQLite) and artifacts/.",
    )
    db_url: str | None = Field(
        default=None,
        description="Database URL (sqlite:///path or postgresql://...); "
        "default is home/modelcycle.db.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Folder (or file:// URL) of the content-addressed artifact store; "
        "default is home/artifacts.",
    )
    sqlite_busy_timeout_s: float = Field(
        default=60.0, gt=0, description="How long a SQLite writer waits for the lock, in seconds."
    )
    tracking_flush_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Most time a logged metric, param or tag waits in memory before it is written.",
    )
    tracking_max_buffer: int = Field(
        default=10_000,
        ge=1,
        description="Buffered tracking records that trigger an immediate write.",
    )
    max_param_length: int = Field(
        default=6000, ge=1, description="Longest accepted param value, in characters."
    )
    max_key_length: int = Field(
        default=250, ge=1, description="Longest accepted metric, param or tag name."
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="File holding the key that seals the audit chain (created 0600 on first "
        "use); default is home/audit.key. Back it up: without it the chain cannot be "
        "verified or extended.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="The audit chain's key itself, 64 hexadecimal characters (e.g. from "
        "'openssl rand -hex 32'); when set, the key file is neither read nor created. "
        "For PostgreSQL workspaces shared by several hosts.",
    )
    debug: bool = Field(default=False, description="Show full tracebacks in the CLI.")

    @field_serializer("audit_key", when_used="json")
    def _reveal_audit_key(self, key: SecretStr | None) -> str | None:
        # Worker processes receive these settings as JSON; a masked key would break them.
        return None if key is None else key.get_secret_value()

    def resolved_db_url(self) -> str:
        """Return the database URL, defaulting to the SQLite file inside ``home``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'modelcycle.db').resolve()}"

    def resolved_audit_key_file(self) -> Path:
        """Return the audit key file, defaulting to ``home/audit.key`` (links not followed)."""
        if self.audit_key_file is not None:
            return self.audit_key_file.expanduser().absolute()
        return (self.home / "audit.key").absolute()

    def resolved_artifact_root(self) -> str:
        """Return the artifact root, defaulting to ``home/artifacts``."""
        if self.artifact_root:
            return self.artifact_root
        return str((self.home / "artifacts").resolve())
