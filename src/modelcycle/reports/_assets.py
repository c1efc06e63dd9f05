"""plotly.js: one copy inlined in a page that stands alone, or stored once and linked.

A page kept with others (a run's evaluation report, the monitoring reports of a
workspace, the dashboard) links ``plotly.min.js`` beside it instead of carrying the
4.9 MB bundle itself; :func:`write_assets` puts that one copy in a folder. A page
someone exports to mail or archive inlines it and opens offline on its own.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path

#: The file name pages link plotly.js under.
PLOTLY_FILE = "plotly.min.js"


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed ``plotly`` package (read once)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def write_assets(folder: Path | str) -> Path:
    """Write ``plotly.min.js`` into ``folder`` unless the same file is already there.

    Written under a temporary name and renamed, so a page opened meanwhile finds the
    old copy or the new one, never half of one; mode 0600 like every workspace file
    (the folder is the caller's). Returns the file's path.
    """
    target = Path(folder) / PLOTLY_FILE
    data = plotly_js().encode()
    with contextlib.suppress(OSError):
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return target
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(f".{PLOTLY_FILE}.{os.getpid()}.tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(data)
    partial.replace(target)
    return target
