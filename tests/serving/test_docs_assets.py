"""``/docs`` and ``/redoc`` work offline: every script, style and icon comes from the server.

A real uvicorn server with API keys required answers the pages without a key; every URL a
page references (``src=``, ``href=``, and the OpenAPI document Swagger UI fetches) is on the
same origin and answers 200 with the right content, also without a key. Any other path
under the assets folder stays behind the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import modelcycle as mc
from tests.serving.conftest import make_app, running

# src=, href=, spec-url= (ReDoc) and Swagger UI's url: '...'
_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("docs")
    app = make_app(mc.Workspace(root / "ws"), root / "log", secure=True, models=())
    with running(app) as url:
        yield url


def references(html: str) -> list[str]:
    return [first or second for first, second in _REFERENCE.findall(html)]


@pytest.mark.parametrize(
    ("page", "script", "marker"),
    [
        ("/docs", "swagger-ui-bundle.js", b"SwaggerUIBundle"),
        ("/redoc", "redoc.standalone.js", b"Redoc"),
    ],
)
def test_a_documentation_page_loads_everything_from_the_server(
    base: str, page: str, script: str, marker: bytes
) -> None:
    answer = httpx.get(f"{base}{page}")
    assert answer.status_code == 200
    assert "http" not in answer.text  # no absolute URL: no CDN, no web font
    urls = references(answer.text)
    assert any(url.endswith(script) for url in urls), urls
    assert "/openapi.json" in urls, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url  # same origin only
        served = httpx.get(f"{base}{url}")
        assert served.status_code == 200, (url, served.status_code)
        assert served.content, url
    script_url = next(url for url in urls if url.endswith(script))
    served = httpx.get(f"{base}{script_url}")
    assert served.headers["content-type"].startswith("text/javascript")
    assert marker in served.content


def test_the_oauth2_redirect_page_is_open(base: str) -> None:
    assert httpx.get(f"{base}/docs/oauth2-redirect").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/",
        "/docs/assets/core.py",
        "/docs/assets/../../v1/models",
        "/docs/assets/swagger-ui-bundle.js/x",
        "/docs/assets/%2e%2e/__init__.py",
    ],
)
def test_no_other_file_is_open(base: str, path: str) -> None:
    answer = httpx.get(f"{base}{path}")
    assert answer.status_code == 401, (path, answer.status_code)


def test_the_files_come_from_the_installed_package(base: str) -> None:
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    served = httpx.get(f"{base}/docs/assets/swagger-ui.css")
    assert served.content == (static / "swagger-ui.css").read_bytes()
    assert served.headers["content-type"].startswith("text/css")
