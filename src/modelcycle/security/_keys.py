"""API key text: generation, hashing, and the public description of a key.

A key is ``mc_`` followed by 32 random bytes from :mod:`secrets` (URL-safe
base64). Only its SHA-256 is stored: a fast hash is enough for 256 bits of
entropy, which no dictionary or brute force can reach. The first 8 characters
(the *prefix*) name the key in listings, messages and audit events; the rest is
shown once, at creation, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelcycle.core import ValidationError, ms_to_datetime

KEY_PREFIX = "mc_"
PREFIX_LENGTH = 8
_KEY_PATTERN = re.compile(r"^mc_[A-Za-z0-9_-]{43}$")
_SHOWN = PREFIX_LENGTH - len(KEY_PREFIX)  # characters of the random part a prefix shows
_KEY_IN_TEXT = re.compile(
    rf"(?<![A-Za-z0-9_-])({KEY_PREFIX}[A-Za-z0-9_-]{{{_SHOWN}}})[A-Za-z0-9_-]{{{43 - _SHOWN}}}"
    r"(?![A-Za-z0-9_-])"
)
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def new_key() -> str:
    """A new random key text, ``mc_`` + 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key_text: str) -> str:
    """The SHA-256 (hex) stored for a key."""
    return hashlib.sha256(key_text.encode()).hexdigest()


def key_prefix(key_text: str) -> str:
    """The public first characters that name a key."""
    return key_text[:PREFIX_LENGTH]


def looks_like_key(key_text: str) -> bool:
    """Whether the text has the shape of a modelcycle key (checked before any lookup)."""
    return isinstance(key_text, str) and _KEY_PATTERN.match(key_text) is not None


def mask_keys(text: str) -> str:
    """``text`` with every key in it cut to its public prefix (for logs and messages).

    Examples
    --------
    >>> mask_keys("GET /x?k=" + "mc_" + "a" * 43)
    'GET /x?k=mc_aaaaa...'
    """
    return _KEY_IN_TEXT.sub(r"\1...", text) if KEY_PREFIX in text else text


def hash_matches(key_text: str, stored_hash: str) -> bool:
    """Compare a presented key with a stored hash in constant time."""
    return hmac.compare_digest(key_hash(key_text).encode(), stored_hash.encode())


def parse_duration(text: str) -> timedelta:
    """Parse ``90d``, ``12h``, ``30m``, ``45s`` or ``2w`` into a :class:`timedelta`.

    Examples
    --------
    >>> parse_duration("90d")
    datetime.timedelta(days=90)
    """
    found = _DURATION.match(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise ValidationError(
            f"duration {text!r} is not valid; expected a positive number and a unit, "
            "e.g. '90d', '12h', '30m', '45s' or '2w'"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key itself, only its prefix."""

    prefix: str
    user: str
    role: str
    model: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        return {
            "prefix": self.prefix,
            "user": self.user,
            "role": self.role,
            "model": self.model,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "last_used_at": _iso(self.last_used_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def key_info(row: Any, user: str) -> KeyInfo:
    """Build a :class:`KeyInfo` from an ``api_keys`` row."""
    created = ms_to_datetime(row["created_at"])
    assert created is not None
    return KeyInfo(
        prefix=row["prefix"],
        user=user,
        role=row["role"],
        model=row["model"],
        created_at=created,
        expires_at=ms_to_datetime(row["expires_at"]),
        revoked_at=ms_to_datetime(row["revoked_at"]),
        last_used_at=ms_to_datetime(row["last_used_at"]),
    )
