"""Layer 3 security: users, roles, API keys, and the tamper-evident audit chain."""

from __future__ import annotations

from modelcycle.security._audit import (
    GENESIS,
    AuditEvent,
    VerifyResult,
    append,
    canonical_json,
    list_events,
    verify,
)
from modelcycle.security._keys import (
    KeyInfo,
    key_prefix,
    looks_like_key,
    mask_keys,
    parse_duration,
)
from modelcycle.security._roles import (
    ACTIONS,
    PERMISSIONS,
    ROLES,
    Grant,
    Principal,
    authorize,
    default_actor,
)
from modelcycle.security._security import Security, User, check_user_name

__all__ = [
    "ACTIONS",
    "GENESIS",
    "PERMISSIONS",
    "ROLES",
    "AuditEvent",
    "Grant",
    "KeyInfo",
    "Principal",
    "Security",
    "User",
    "VerifyResult",
    "append",
    "authorize",
    "canonical_json",
    "check_user_name",
    "default_actor",
    "key_prefix",
    "list_events",
    "looks_like_key",
    "mask_keys",
    "parse_duration",
    "verify",
]
