"""The workspace object that ties every layer together for users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelcycle.workspace._workspace import Workspace, resolve_settings

if TYPE_CHECKING:
    from modelcycle.workspace._train import TrainOptions, TrainResult

__all__ = ["TrainOptions", "TrainResult", "Workspace", "resolve_settings"]


def __getattr__(name: str) -> Any:
    # Training pulls in AutoML (Optuna, LightGBM): load it on first use.
    if name in ("TrainOptions", "TrainResult"):
        from modelcycle.workspace import _train

        return getattr(_train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
