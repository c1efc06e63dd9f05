"""The API's documentation pages (Swagger UI, ReDoc), served with their scripts offline.

FastAPI's own ``/docs`` and ``/redoc`` load their JavaScript, CSS, favicon and fonts from
CDNs, so a server on a network without internet access shows a blank page. The same
pages are built here from the copies of Swagger UI and ReDoc that the ``fastapi-offline``
package installs, and each file is served under one fixed path of our own: the pages
reference nothing but the server itself. Only the files named in ``_ASSETS`` are
served (no static folder is mounted, so no path reaches anything else).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
_ASSET_ROOT = "/docs/assets"

# The served name of each file, and its media type: an exact allow-list.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

DOCS_PATHS = frozenset(
    {DOCS_URL, REDOC_URL, OAUTH2_REDIRECT_URL} | {f"{_ASSET_ROOT}/{name}" for name in _ASSETS}
)
"""Every path these pages and their files answer (open to callers without a key)."""


def install_offline_docs(app: FastAPI) -> None:
    """Answer ``DOCS_PATHS`` on ``app``, which was built with ``docs_url=None, redoc_url=None``.

    The files are read once, here, so a missing or broken ``fastapi-offline``
    installation stops the server at start-up rather than blanking a page later.
    """
    openapi_url = app.openapi_url or "/openapi.json"
    for name, media_type in _ASSETS.items():
        app.add_api_route(
            f"{_ASSET_ROOT}/{name}",
            _asset_endpoint(_static().joinpath(name).read_bytes(), media_type),
            include_in_schema=False,
        )

    async def swagger_ui(request: Request) -> HTMLResponse:
        at = _under(request)
        return get_swagger_ui_html(
            openapi_url=at(openapi_url),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=at(OAUTH2_REDIRECT_URL),
            swagger_js_url=at(f"{_ASSET_ROOT}/swagger-ui-bundle.js"),
            swagger_css_url=at(f"{_ASSET_ROOT}/swagger-ui.css"),
            swagger_favicon_url=at(f"{_ASSET_ROOT}/favicon.png"),
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def redoc(request: Request) -> HTMLResponse:
        at = _under(request)
        return get_redoc_html(
            openapi_url=at(openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=at(f"{_ASSET_ROOT}/redoc.standalone.js"),
            redoc_favicon_url=at(f"{_ASSET_ROOT}/favicon.png"),
            with_google_fonts=False,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_api_route(REDOC_URL, redoc, include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)


def _under(request: Request) -> Callable[[str], str]:
    """Prefix a path with the request's root path (a server behind a path-routing proxy)."""
    root = str(request.scope.get("root_path", ""))
    return lambda path: f"{root}{path}"


def _static() -> Traversable:
    return files("fastapi_offline").joinpath("static")


def _asset_endpoint(content: bytes, media_type: str) -> Callable[[], Awaitable[Response]]:
    """A route answering ``content``; the files change only with the installed package."""

    async def asset() -> Response:
        return Response(
            content, media_type=media_type, headers={"cache-control": "public, max-age=86400"}
        )

    return asset
