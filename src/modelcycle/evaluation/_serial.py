"""JSON-safe values: NaN and infinities become ``null`` and come back as NaN."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types: lists, dicts, str, int, finite float or None."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def number(value: Any) -> float:
    """Read a float written by :func:`jsonable` (``None`` means NaN)."""
    return float("nan") if value is None else float(value)


def numbers(values: Any) -> tuple[float, ...]:
    """Read a list of floats written by :func:`jsonable`."""
    return tuple(number(v) for v in values)
