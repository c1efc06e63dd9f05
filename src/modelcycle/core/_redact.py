"""Showing a database URL without its secrets, and telling a connection string from a folder.

Every place that shows a database URL (errors, ``modelcycle db status``, ``--json``
output, logs, the ``repr`` of settings) passes it through :func:`redact_url`, which
hides every credential form a URL or a libpq connection string can carry:

- ``user:password@`` (also with ``@``, ``:`` or ``/`` left unencoded in the password:
  everything up to the *last* ``@`` is treated as credentials);
- query parameters that carry a secret (``?password=``, ``?sslpassword=``, also
  percent-encoded names such as ``?pass%77ord=``);
- ``password=`` and ``sslpassword=`` in a libpq ``key=value`` string, quoted or not.

It errs towards hiding too much: a message may lose a host name, never a password.
A message that may *contain* such a URL or string (a driver's error text) goes through
:func:`redact_text`, which applies the same rules to every URL and every ``password=``
in it.

Examples
--------
>>> redact_url("postgresql://alice:s3cret@db:5432/mc?sslpassword=k3y&sslmode=require")
'postgresql://alice:***@db:5432/mc?sslpassword=***&sslmode=require'
>>> redact_url("host=db dbname=mc password='s3 cret'")
'host=db dbname=mc password=***'
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

#: Query parameters whose value is a secret.
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "sslpassword",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
    }
)

#: Keywords of a libpq connection string (``host=... dbname=...``), as PostgreSQL 17 lists them.
LIBPQ_KEYWORDS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile",
        "require_auth", "channel_binding", "connect_timeout", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
        "gssencmode", "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey",
        "sslkeylogfile", "sslpassword", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir",
        "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs",
        "load_balance_hosts",
    }
)  # fmt: skip

_HIDDEN = "***"
_EMBEDDED_URL = re.compile(r"(?i)[a-z][a-z0-9+.-]*://[^\s'\"<>]+")
_CONNINFO_START = re.compile(r"\s*([A-Za-z_]+)\s*=")
_CONNINFO_SECRET = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(password|sslpassword)(\s*=\s*)"
    r"('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*\\?)"  # quoted, or up to unescaped white space
)


def is_conninfo(text: str) -> bool:
    """Whether ``text`` is a libpq keyword string (``host=db dbname=mc ...``), not a path or URL.

    Examples
    --------
    >>> is_conninfo("host=127.0.0.1 dbname=mc user=me"), is_conninfo("./workspace")
    (True, False)
    """
    match = _CONNINFO_START.match(text)
    return match is not None and match.group(1).lower() in LIBPQ_KEYWORDS and "://" not in text


def looks_like_database(text: str) -> bool:
    """Whether ``text`` names a database (a URL or a libpq keyword string) rather than a folder."""
    return "://" in text or is_conninfo(text)


def redact_url(text: str) -> str:
    """``text`` (a database URL or libpq string) with every secret replaced by ``***``."""
    if is_conninfo(text):
        return _CONNINFO_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{_HIDDEN}", text)
    scheme, separator, rest = text.partition("://")
    if not separator:
        return text
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{_HIDDEN}{rest[at:]}"
        query_start = rest.find("?", rest.rfind("@"))
    else:
        query_start = rest.find("?")
    if query_start >= 0:
        rest = rest[: query_start + 1] + _redact_query(rest[query_start + 1 :])
    return f"{scheme}{separator}{rest}"


def _redact_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        name, equals, _ = piece.partition("=")
        if equals and unquote_plus(name).strip().lower() in SECRET_PARAMETERS:
            piece = f"{name}={_HIDDEN}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_text(text: str) -> str:
    """``text`` (any message) with the secrets of every URL and ``password=`` in it hidden.

    For text that is not itself a URL but may quote one, such as a database driver's
    error message (see :func:`redact_url` for the forms hidden).

    Examples
    --------
    >>> redact_text('could not connect to "postgresql://me:pw@db/mc": refused')
    'could not connect to "postgresql://me:***@db/mc": refused'
    >>> redact_text("invalid connection option host=db password=pw sslpassword='k 2'")
    'invalid connection option host=db password=*** sslpassword=***'
    """
    text = _EMBEDDED_URL.sub(lambda match: redact_url(match.group(0)), text)
    return _CONNINFO_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{_HIDDEN}", text)
