"""The options of a prediction server, declared once with type, default and help."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelcycle.serving._challengers import parse_canary, parse_shadow


class ServeSettings(BaseSettings):
    """Options of ``modelcycle serve``; ``MODELCYCLE_SERVE_<NAME>`` sets each from the environment.

    Each field is also an option of ``modelcycle serve``, generated from its declaration
    (``json_schema_extra={"cli": ...}`` names the option when the field's name would not).

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
        json_schema_extra={"cli": None},  # 'modelcycle serve REFS...'
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
        description="How often the server checks whether a served alias moved, in seconds "
        "(on PostgreSQL an alias move is also announced and followed at once; this is the "
        "fallback).",
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
        description=(
            "Buffered requests (of any number of rows) that trigger an immediate write of "
            "the prediction log."
        ),
    )
    log_predictions: bool = Field(
        default=True,
        json_schema_extra={"cli": "--log/--no-log"},
        description=(
            "Write every answered request, and every request refused for its inputs or "
            "failed in the model, to the prediction log."
        ),
    )
    freeze_gc: bool = Field(
        default=True,
        description=(
            "After models load, move every object alive into the garbage collector's "
            "permanent generation (gc.freeze), so full collections stop scanning the "
            "models: a serving process's pauses drop from ~100 ms to a few ms. Objects of "
            "versions swapped out are then kept, a model's size per swap."
        ),
    )
    batch_window_ms: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description=(
            "Longest wait, in milliseconds, for concurrent small requests to one version to "
            "gather into one model call (0: only requests already received are gathered)."
        ),
    )
    max_batch_rows: int = Field(
        default=64,
        ge=1,
        description=(
            "Most rows in one micro-batched model call; requests this large or larger "
            "are predicted alone (1 turns micro-batching off)."
        ),
    )
    model_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description=(
            "Threads running model calls (predict, explain, micro-batches) and the decoding "
            "and validation of large requests, off the event loop, so health probes and other "
            "requests are answered meanwhile; a model that is not thread-safe needs 1."
        ),
    )
    onnx_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description=(
            "Threads onnxruntime uses inside one call of a compiled or ONNX model; the "
            "model threads already run calls side by side, so 1 suits small requests."
        ),
    )
    explain_top_k: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Feature contributions listed per row by '?explain=true'.",
    )
    canary: tuple[str, ...] = Field(
        default=(),
        description=(
            "Canary challengers as 'name@alias=fraction': that fraction of the requests "
            "for a served 'name' is answered by the challenger (and logged as 'canary')."
        ),
    )
    shadow: tuple[str, ...] = Field(
        default=(),
        description=(
            "Shadow challengers ('name@alias'): every request for a served 'name' is also "
            "predicted by the challenger after the answer is sent, and logged as 'shadow'."
        ),
    )
    auth_cache_ttl_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "Seconds an API key's check is remembered in memory (0: check every request); a "
            "revoked or expired key, or a disabled user, is refused within this time."
        ),
    )
    rate_limit_per_s: float = Field(
        default=1000.0,
        json_schema_extra={"cli": "--rate-limit"},
        gt=0,
        description="Requests per second each API key may send on average (token bucket).",
    )
    rate_limit_burst: int = Field(
        default=2000,
        json_schema_extra={"cli": "--rate-burst"},
        ge=1,
        description="Requests an API key may send at once before its rate limit applies.",
    )
    auth_failure_limit: int = Field(
        default=30,
        ge=1,
        description=(
            "Failed authentications (no, malformed or unknown key) one client address may "
            "make at once; past it the address gets 429 until auth_failure_window_s refills "
            "the allowance. The address is the peer the server sees: a proxy's, when one "
            "is in front."
        ),
    )
    auth_failure_window_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description=(
            "Seconds in which a client address's allowance of failed authentications "
            "refills completely (a token bucket of auth_failure_limit)."
        ),
    )
    sensitive_inputs: Literal["hash", "drop"] = Field(
        default="hash",
        description=(
            "What the prediction log keeps of input columns marked sensitive: 'hash' "
            "(salted SHA-256, per workspace) or 'drop' (left out)."
        ),
    )
    route_seed: int | None = Field(
        default=None,
        json_schema_extra={"cli": None},
        description="Seed of the canary traffic split (for reproducible routing in tests).",
    )

    @field_validator("canary")
    @classmethod
    def _canaries_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_canary(text)
        return value

    @field_validator("shadow")
    @classmethod
    def _shadows_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_shadow(text)
        return value
