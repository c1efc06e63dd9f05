"""Layer 5 web: the dashboard, the whole lifecycle in a browser.

Server-rendered pages (Jinja, the reports' shell and style, plotly.js served from the
installed ``plotly`` package: no CDN, works offline) for runs, compare, training runs,
registered models, models in operation, retraining, the audit log and users. Sign-in
with a password or an API key opens a session cookie; every action is confirmed,
authorized again on the server, CSRF-checked and audited. ``modelcycle ui`` serves it
alone; ``modelcycle serve`` serves it at ``/`` beside the API (:func:`with_dashboard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports
from modelcycle.web._mount import PREFIXES, with_dashboard

if TYPE_CHECKING:
    from modelcycle.web._app import WebSettings, create_web_app

# The pages load Jinja, pandas and the lifecycle: read on first use, so that a server can
# mount the dashboard without building it at start (see ``_mount.built_on_first_request``).
__getattr__, __dir__ = lazy_exports(
    __name__, {"modelcycle.web._app": ("WebSettings", "create_web_app")}
)

__all__ = ["PREFIXES", "WebSettings", "create_web_app", "with_dashboard"]
