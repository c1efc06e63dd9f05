"""The one settings object: every option declared once, with type, default and help.

Environment variables (``MODELCYCLE_<NAME>``) are read when a :class:`Settings` is
built, never at import time and never again afterwards; the CLI and the docs are
generated from the same field declarations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelcycle.core._redact import looks_like_database, redact_url


class Settings(BaseSettings):
    """Options of a workspace and of the processes working on it.

    Examples
    --------
    >>> from modelcycle.core import Settings
    >>> Settings(home="/tmp/ws").home.name
    'ws'
    """

    model_config = SettingsConfigDict(
        env_prefix="MODELCYCLE_",
        frozen=True,
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,  # a refused value may be a database URL with a password
        populate_by_name=True,  # Settings(artifact_root=...) beside its environment aliases
    )

    home: Path = Field(
        default=Path(".modelcycle"),
        description="Workspace folder holding modelcycle.db (SQLite) and artifacts/.",
    )
    db_url: str | None = Field(
        default=None,
        description="Database URL (sqlite:///path or postgresql://...) or libpq connection "
        "string (host=... dbname=...); default is home/modelcycle.db. Shown with passwords hidden.",
    )
    log_root: Path | None = Field(
        default=None,
        description="Folder holding the prediction and feedback logs and the monitoring "
        "reports (predictions/, feedback/, reports/); default is home. Every server, worker "
        "and monitor of a workspace must see the same one. For object storage, see log_url.",
    )
    log_url: str | None = Field(
        default=None,
        description="Where the prediction and feedback logs and the monitoring reports live, "
        "as a folder, a file:// URL or an object-store URL (s3://bucket/prefix, credentials "
        "from the environment as for artifacts), so servers, workers and monitors on several "
        "machines share them; default is log_root, else home. Writers stage each segment "
        "under home/log-staging/ until it is uploaded; readers mirror the published ones "
        "into home/log-mirror/. Give log_url or log_root, not both. The CLI option is "
        "--log-url.",
    )
    artifact_root: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MODELCYCLE_ARTIFACTS_URL", "MODELCYCLE_ARTIFACT_ROOT"),
        description="Where the content-addressed artifact store lives: a folder, a file:// "
        "URL or an object-store URL (s3://bucket/prefix, credentials from the environment: "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL...); default is "
        "home/artifacts. The CLI option is --artifacts.",
    )
    dask_address: str | None = Field(
        default=None,
        description="Dask scheduler (tcp://host:8786) that training searches, batch scoring "
        "of partitioned Parquet and the worker's training jobs run on; its workers must "
        "reach the same database and artifact store. Unset: everything runs in-process and "
        "Dask is not imported. The CLI option is --cluster.",
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
    run_heartbeat_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often an open run records that its process is alive, in seconds.",
    )
    run_heartbeat_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A RUNNING run silent this long (its process was killed or lost the "
        "database) is ended as KILLED when runs are next read, in seconds; keep it several "
        "heartbeat intervals.",
    )
    debug: bool = Field(default=False, description="Show full tracebacks in the CLI.")

    @field_validator("home", mode="before")
    @classmethod
    def _home_is_a_folder(cls, value: Any) -> Any:
        if isinstance(value, str | os.PathLike) and looks_like_database(os.fspath(value)):
            raise ValueError(
                "home is a folder, and this looks like a database URL or libpq connection "
                "string; give it as db_url (MODELCYCLE_DB_URL or --workspace) instead"
            )
        return value

    @model_validator(mode="after")
    def _timeout_outlasts_heartbeats(self) -> Settings:
        if self.run_heartbeat_timeout_s < 2 * self.run_heartbeat_interval_s:
            raise ValueError(
                f"run_heartbeat_timeout_s ({self.run_heartbeat_timeout_s:g}) must be at least "
                f"twice run_heartbeat_interval_s ({self.run_heartbeat_interval_s:g}), or live "
                "runs would be ended as KILLED"
            )
        return self

    @model_validator(mode="after")
    def _one_log_location(self) -> Settings:
        if self.log_url is not None and self.log_root is not None:
            raise ValueError(
                "log_url and log_root both say where the logs live; give only one "
                "(log_url also takes a folder)"
            )
        return self

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name in ("db_url", "artifact_root", "log_url") and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

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

    def resolved_log_location(self) -> str:
        """Where the logs live: ``log_url`` (an object-store URL as given, a folder made
        absolute), else ``log_root``, else ``home``.

        >>> Settings(home="/srv/ws").resolved_log_location()
        '/srv/ws'
        >>> Settings(log_url="s3://logs/team").resolved_log_location()
        's3://logs/team'
        """
        location = self.log_url or os.fspath(self.log_root or self.home)
        scheme, separator, rest = location.partition("://")
        if separator and scheme != "file":
            return location
        return str(Path(rest if separator else location).expanduser().resolve())

    def resolved_artifact_root(self) -> str:
        """Return the artifact root, defaulting to ``home/artifacts``."""
        if self.artifact_root:
            return self.artifact_root
        return str((self.home / "artifacts").resolve())
