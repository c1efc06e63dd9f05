"""The options of a prediction server, declared once with type, default and help."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Options of ``modelcycle serve``; ``MODELCYCLE_SERVE_<NAME>`` sets each from the environment.

    Examples
    --------
    >>> ServeSettings(models=("churn@champion",)).max_rows
    10000
    """

    model_config = SettingsConfigDict(
        env_prefix="MODELCYCLE_SERVE_", frozen=True, extra="forbid", validate_default=True
    )

    models: tuple[str, ...] = Field(
        default=(),
        description="Model references served ('name', 'name@alias' or 'name/version').",
    )
    max_rows: int = Field(
        default=10_000, ge=1, description="Most rows accepted in one prediction request."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often the server checks whether a served alias moved, in seconds.",
    )
    log_flush_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Most time an answered prediction waits in memory before it is written.",
    )
    log_max_buffer: int = Field(
        default=50_000,
        ge=1,
        description="Buffered prediction-log rows that trigger an immediate write.",
    )
    log_predictions: bool = Field(
        default=True, description="Write every answered prediction to the prediction log."
    )
