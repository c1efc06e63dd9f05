"""Credentials kept out of the server's logs: query parameters, Authorization values, keys.

A client may put a key where it does not belong (``?api_key=mc_...``): the server
refuses it (keys are read from ``Authorization`` only), but uvicorn's access log writes
the whole URL. :class:`SecretFilter`, on every handler of :func:`log_config` (what
``modelcycle serve`` runs uvicorn with), rewrites each record before it is written, in
the access log, uvicorn's own messages, modelcycle's and any library's:

* the value of a query or form parameter whose name looks like a credential: its
  name, percent-decoded (``api%5Fkey``, ``api%255Fkey``) and folded to lower-case
  letters and digits, contains ``key``, ``token``, ``pass``, ``pwd``, ``secret``,
  ``auth``, ``signature``, ``credential`` or ``session``. Over-redacting a harmless
  parameter (``monkey=1``) costs a log reader little; missing a secret costs more;
* the value after ``Authorization``, ``Proxy-Authorization``, ``X-API-Key`` or
  ``Cookie`` and a ``:`` or ``=``, and the credentials after ``Bearer`` or ``Basic``;
* a modelcycle key anywhere (in a path, say), cut to its public prefix.

Every occurrence is rewritten (repeated parameters too). The filter never drops a record.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from modelcycle.security._keys import mask_keys

#: What a credential's value is replaced by.
REDACTED = "<redacted>"
#: A parameter whose folded name contains one of these is a credential.
CREDENTIAL_WORDS = (
    "key",
    "token",
    "pass",
    "pwd",
    "secret",
    "auth",
    "signature",
    "credential",
    "session",
)
_PARAMETER = re.compile(
    r"(?P<lead>^|[?&;\s,(\[{'\"])(?P<name>[^\s=&;?#'\"]+?)(?P<eq>=|%3[dD]|%253[dD])"
    r"(?P<value>[^\s&;#'\",)\]}]*)"
)
_HEADER = re.compile(
    r"(?i)\b(?P<name>proxy-authorization|authorization|x-api-key|cookie)(?P<sep>['\"]?\s*[:=]\s*)"
    r"(?P<value>[^'\"\r\n]+)"
)
_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<space>\s+)(?P<value>[^\s'\",;]+)")
_FOLD = re.compile(r"[^a-z0-9]")
_HINTS = ("=", "%3", "uthoriz", "earer", "asic", "pi-key", "ookie", "mc_")


def credential_name(name: str) -> bool:
    """Whether a parameter named ``name`` (as sent, perhaps percent-encoded) holds a secret.

    Examples
    --------
    >>> [credential_name(n) for n in ("api_key", "API%5FKey", "access_token", "top_k")]
    [True, True, True, False]
    """
    for _ in range(3):  # 'api%255Fkey' -> 'api%5Fkey' -> 'api_key'
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    folded = _FOLD.sub("", name.lower())
    return any(word in folded for word in CREDENTIAL_WORDS)


def redact(text: str) -> str:
    """``text`` with every credential replaced (see the module docstring).

    Examples
    --------
    >>> redact('"GET /v1/models?API%5Fkey=abc&explain=true&token=x&token=y HTTP/1.1"')
    '"GET /v1/models?API%5Fkey=<redacted>&explain=true&token=<redacted>&token=<redacted> HTTP/1.1"'
    >>> redact("Authorization: Bearer abc.def")
    'Authorization: <redacted>'
    """
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):  # the common case: nothing to look at
        return text
    text = _PARAMETER.sub(_parameter, text)
    text = _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)
    text = _SCHEME.sub(lambda m: f"{m['scheme']}{m['space']}{REDACTED}", text)
    return mask_keys(text)


def _parameter(match: re.Match[str]) -> str:
    if not credential_name(match["name"]) or not match["value"]:
        return match[0]
    return f"{match['lead']}{match['name']}{match['eq']}{REDACTED}"


def _redacted(value: Any) -> Any:
    """A log argument with its credentials redacted (unchanged when it has none)."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class SecretFilter(logging.Filter):
    """Redacts credentials in a record's message, arguments and traceback (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_redacted(v) for v in record.args)
        colored = record.__dict__.get("color_message")  # uvicorn's coloured twin of msg
        if isinstance(colored, str):
            record.__dict__["color_message"] = redact(colored)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`SecretFilter` on every handler.

    modelcycle's own messages (``modelcycle.*``) go to the same stream as uvicorn's,
    from ``level`` up; other libraries' warnings too. ``modelcycle serve`` uses it;
    pass it to ``uvicorn.run(app, log_config=log_config())`` when serving an app of
    your own.
    """
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"secrets": {"()": f"{__name__}.SecretFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "secrets"]
    config["loggers"]["modelcycle"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
