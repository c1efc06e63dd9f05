"""Layer 5: the ``modelcycle`` command line (Typer + Rich)."""

from __future__ import annotations

from modelcycle.cli._app import app, main

__all__ = ["app", "main"]
