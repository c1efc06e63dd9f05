"""Who is at the browser, and whether a form really comes from our page.

A page needs a session: the ``mc_session`` cookie (HttpOnly, so no script reads it;
SameSite=Strict, so no other site's page sends it; Secure when the request came over
TLS) names one, and :meth:`~modelcycle.security.Sessions.resume` checks it against the
database on every request. Without one, a page redirects to ``/login``.

Every form that changes something carries the session's CSRF token (a synchronizer
token derived from the session id), and a request with an ``Origin`` header must come
from this server's own origin. The sign-in form, which has no session yet, uses a
double-submit token: a random value both in an HttpOnly cookie and in the form.
Roles decide which buttons a page shows, and every action is authorized again when
it is posted.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from modelcycle.core import ModelcycleError, PermissionDenied
from modelcycle.security import Security, WebSession

SESSION_COOKIE = "mc_session"
LOGIN_COOKIE = "mc_login"


class SignInRequired(ModelcycleError):
    """No valid session: pages redirect to the sign-in form."""

    code = "unauthenticated"
    exit_code = 5


class CsrfRefused(PermissionDenied):
    """A form without this session's CSRF token, or posted from another origin."""

    code = "csrf"


@dataclass(frozen=True)
class Viewer:
    """A signed-in browser and what its role lets the pages show."""

    session: WebSession
    security: Security

    @property
    def user(self) -> str:
        """The signed-in user's name."""
        return self.session.user

    @property
    def csrf(self) -> str:
        """The token every form of this session carries."""
        return self.session.csrf_token

    def may(self, action: str, model: str | None = None) -> bool:
        """Whether a button for ``action`` (on ``model``) is shown."""
        try:
            self.security.authorize(self.session.principal, action, model)
        except PermissionDenied:
            return False
        return True

    def require(self, action: str, model: str | None = None) -> None:
        """Allow ``action`` or raise :class:`PermissionDenied` (every action, on the server)."""
        self.security.authorize(self.session.principal, action, model)


def viewer(request: Request, security: Security) -> Viewer:
    """The signed-in viewer of ``request``, or :class:`SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired("sign in to see this page")
    try:
        session = security.sessions.resume(token)
    except PermissionDenied as error:
        raise SignInRequired(str(error)) from None
    return Viewer(session, security)


def check_form(request: Request, who: Viewer, token: object) -> None:
    """Refuse a posted form without the session's CSRF token or from another origin."""
    check_origin(request)
    if not isinstance(token, str) or not _same(token, who.csrf):
        raise CsrfRefused(
            "this form is missing its security token or it is out of date; reload the page "
            "and submit it again"
        )


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of any two texts (``compare_digest`` raises on non-ASCII str)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def check_origin(request: Request) -> None:
    """Refuse a request whose ``Origin`` (when sent) is not this server's origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    parts = urlsplit(origin)
    if origin == "null" or f"{parts.scheme}://{parts.netloc}" != own:
        raise CsrfRefused(f"a form from {origin!r} may not act on this server")


def new_login_token() -> str:
    """The sign-in form's double-submit token."""
    return secrets.token_urlsafe(24)


def check_login_token(request: Request, token: object) -> None:
    """The sign-in form's token must equal its cookie (a page elsewhere cannot set both)."""
    check_origin(request)
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not isinstance(token, str) or not _same(cookie, token):
        raise CsrfRefused("the sign-in form is out of date; reload the page and sign in again")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """A cookie no script reads, no other site sends, and only TLS carries when TLS is used."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
