"""The workspace object that ties every layer together for users."""

from __future__ import annotations

from modelcycle.workspace._train import TrainOptions, TrainResult
from modelcycle.workspace._workspace import Workspace, resolve_settings

__all__ = ["TrainOptions", "TrainResult", "Workspace", "resolve_settings"]
