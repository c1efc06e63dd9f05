"""Numbers and shares as pages show them."""

from __future__ import annotations

import math
from typing import Any


def format_value(value: Any) -> str:
    """Numbers to four significant digits, NaN and None as a dash, anything else as text.

    Examples
    --------
    >>> format_value(1234.5678), format_value(float("nan")), format_value(7)
    ('1235', '—', '7')
    """
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_share(value: float | None) -> str:
    """A share as a percentage (``2.50%``, ``12.5%``), a dash when unknown.

    Examples
    --------
    >>> format_share(0.025), format_share(0.125), format_share(None)
    ('2.50%', '12.5%', '—')
    """
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2%}" if value < 0.1 else f"{value:.1%}"
