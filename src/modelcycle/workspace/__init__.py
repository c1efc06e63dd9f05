"""The workspace object that ties every layer together for users."""

from __future__ import annotations

from modelcycle.workspace._workspace import Workspace, resolve_settings

__all__ = ["Workspace", "resolve_settings"]
