"""Layer 3 security: users, roles, API keys, and the tamper-evident audit chain."""

from __future__ import annotations

from modelcycle.security._audit import (
    GENESIS,
    AuditEvent,
    ChainHead,
    VerifyResult,
    append,
    audit_head,
    canonical_json,
    list_events,
    verify,
)
from modelcycle.security._audit_key import KEY_ENV, AuditKey
from modelcycle.security._keys import (
    KeyInfo,
    key_prefix,
    looks_like_key,
    mask_keys,
    parse_duration,
)
from modelcycle.security._reseal import SealStatus, open_audit_chain, seal_chain
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
    "KEY_ENV",
    "PERMISSIONS",
    "ROLES",
    "AuditEvent",
    "AuditKey",
    "ChainHead",
    "Grant",
    "KeyInfo",
    "Principal",
    "SealStatus",
    "Security",
    "User",
    "VerifyResult",
    "append",
    "audit_head",
    "authorize",
    "canonical_json",
    "check_user_name",
    "default_actor",
    "key_prefix",
    "list_events",
    "looks_like_key",
    "mask_keys",
    "open_audit_chain",
    "parse_duration",
    "seal_chain",
    "verify",
]
