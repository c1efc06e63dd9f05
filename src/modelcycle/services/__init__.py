"""Layer 3 (top): the services of a workspace, as one object every operation takes.

Examples
--------
>>> import tempfile
>>> from modelcycle.core import Settings
>>> services = Services.open(Settings(home=tempfile.mkdtemp()))
>>> services.layout.predictions.name
'predictions'
>>> services.close()
"""

from __future__ import annotations

from modelcycle.services._services import Services, no_workspace

__all__ = ["Services", "no_workspace"]
