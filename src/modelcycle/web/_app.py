"""``create_web_app``: the dashboard, and ``with_dashboard``: it and the API on one port."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import RedirectResponse, Response

from modelcycle._version import __version__
from modelcycle.core import ModelcycleError, PermissionDenied
from modelcycle.reports import plotly_js
from modelcycle.security import DEFAULT_SESSION_TTL
from modelcycle.services import Services
from modelcycle.serving._auth import TokenBuckets
from modelcycle.serving._errors import status_of
from modelcycle.web import _actions, _pages
from modelcycle.web._auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SignInRequired,
    check_form,
    check_login_token,
    new_login_token,
    set_cookie,
    viewer,
)
from modelcycle.web._render import page


@dataclass(frozen=True)
class WebSettings:
    """How the dashboard signs people in.

    Attributes
    ----------
    session_ttl:
        How long a session lasts from sign-in (it ends sooner at sign-out or revocation).
    login_attempts_per_minute:
        Sign-in attempts allowed per client address and minute before the form answers
        429 (guessing passwords costs the guesser time, and each guess an argon2 hash).
    """

    session_ttl: timedelta = DEFAULT_SESSION_TTL
    login_attempts_per_minute: int = 20


def create_web_app(services: Services, settings: WebSettings | None = None) -> FastAPI:
    """The dashboard of ``services``' workspace: pages for runs, models, operation, audit.

    Needs no model: it reads the workspace's records. Sign in with a password
    (``modelcycle users passwd``) or an API key; what a page shows and which actions it
    offers follow the user's roles, and every action is authorized again on the server,
    checked against the session's CSRF token and written to the audit log.

    Examples
    --------
    >>> import modelcycle as mc, uvicorn  # doctest: +SKIP
    >>> uvicorn.run(create_web_app(mc.Workspace().services))  # doctest: +SKIP
    """
    settings = settings or WebSettings()
    app = FastAPI(
        title="modelcycle dashboard",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    app.state.web_settings = settings
    app.state.login_attempts = TokenBuckets(
        settings.login_attempts_per_minute / 60.0, settings.login_attempts_per_minute
    )
    _install_errors(app)
    _install_static(app)
    _install_login(app)
    app.include_router(_pages.router)
    app.include_router(_actions.router)
    return app


def _install_errors(app: FastAPI) -> None:
    async def sign_in(request: Request, error: Exception) -> Response:
        if request.method == "GET":
            target = quote(
                _local(request.url.path + ("?" + request.url.query if request.url.query else ""))
            )
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return page("error.html.j2", {"viewer": None, "message": str(error)}, status=401)

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, ModelcycleError)
        return page(
            "error.html.j2",
            {"viewer": None, "message": str(error)},
            status=status_of(error),
        )

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
            for e in error.errors()
        )
        return page("error.html.j2", {"viewer": None, "message": problems}, status=400)

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(ModelcycleError, refused)
    app.add_exception_handler(RequestValidationError, invalid)


def _install_static(app: FastAPI) -> None:
    data = plotly_js().encode()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        return Response(
            data,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400", "ETag": etag},
        )

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/runs", status_code=303)


def _local(target: str) -> str:
    """``target`` if it is a path on this server, else ``/runs`` (no open redirect)."""
    parts = urlsplit(target)
    safe = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if safe and not parts.scheme and not parts.netloc else "/runs"


def _install_login(app: FastAPI) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/runs") -> Response:
        token = new_login_token()
        response = page(
            "login.html.j2", {"viewer": None, "token": token, "next": _local(next), "error": None}
        )
        set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        token: Annotated[str, Form()] = "",
        user: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        key: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/runs",
    ) -> Response:
        check_login_token(request, token)
        services: Services = app.state.services
        settings: WebSettings = app.state.web_settings
        address = request.client.host if request.client else "unknown"
        attempts: TokenBuckets = app.state.login_attempts
        if attempts.take(address) > 0:
            return _login_again(request, "too many sign-in attempts; wait a minute", next, 429)
        try:
            if key:
                session_id, _ = services.security.sessions.login_with_key(
                    key.strip(), ttl=settings.session_ttl
                )
            else:
                session_id, _ = services.security.sessions.login(
                    user.strip(), password, ttl=settings.session_ttl
                )
        except PermissionDenied as error:
            message = "API key is not valid" if key else str(error)
            return _login_again(request, message, next, 401)
        response = RedirectResponse(_local(next), status_code=303)
        set_cookie(
            response,
            request,
            SESSION_COOKIE,
            session_id,
            max_age=int(settings.session_ttl.total_seconds()),
        )
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        services: Services = app.state.services
        who = viewer(request, services.security)
        check_form(request, who, csrf)
        services.security.sessions.logout(request.cookies[SESSION_COOKIE])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _login_again(request: Request, message: str, next: str, status: int) -> Response:
    token = new_login_token()
    response = page(
        "login.html.j2",
        {"viewer": None, "token": token, "next": _local(next), "error": message},
        status=status,
    )
    set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
    return response
