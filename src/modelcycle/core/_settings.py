"""The one settings object: every option declared once, with type, default and help.

Environment variables (``MODELCYCLE_<NAME>``) are read when a :class:`Settings` is
built, never at import time and never again afterwards; the CLI and the docs are
generated from the same field declarations.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
    debug: bool = Field(default=False, description="Show full tracebacks in the CLI.")

    def resolved_db_url(self) -> str:
        """Return the database URL, defaulting to the SQLite file inside ``home``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'modelcycle.db').resolve()}"

    def resolved_artifact_root(self) -> str:
        """Return the artifact root, defaulting to ``home/artifacts``."""
        if self.artifact_root:
            return self.artifact_root
        return str((self.home / "artifacts").resolve())
