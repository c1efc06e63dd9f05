"""Checks on what users log, done at the call so errors point at the caller's line."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from modelcycle.core import EXPERIMENT_NAME, ValidationError

_KEY = re.compile(r"[A-Za-z0-9_\-./: ]+", re.ASCII)


def check_key(key: object, *, what: str, max_length: int) -> str:
    """Return ``key`` if it is a valid metric, param or tag name."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(f"{what} name {key!r} is not valid; expected a non-empty string")
    if len(key) > max_length:
        raise ValidationError(
            f"{what} name {key[:40]!r}... is {len(key)} characters; the limit is {max_length}"
        )
    if not _KEY.fullmatch(key):
        raise ValidationError(
            f"{what} name {key!r} is not valid; use letters, digits, spaces and '_ - . / :'"
        )
    return key


def check_metric_value(key: str, value: object) -> float:
    """Return ``value`` as a finite float, or explain why it is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"metric {key!r} got {value!r} ({type(value).__name__}); expected a finite number"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(
            f"metric {key!r} got {number!r}; expected a finite number (NaN and infinity are "
            "not stored: log the failure as a tag or skip the value)"
        )
    return number


def check_step(key: str, step: object) -> int:
    """Return ``step`` as an int."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValidationError(
            f"metric {key!r} got step {step!r} ({type(step).__name__}); expected an integer"
        )
    return int(step)


def check_param_value(key: str, value: Any, *, max_length: int, what: str = "param") -> str:
    """Return ``value`` as the string that will be stored."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_length:
        raise ValidationError(
            f"{what} {key!r} value is {len(text)} characters; the limit is {max_length} "
            "(log long values as an artifact instead)"
        )
    return text


def check_run_name(name: object) -> str:
    """Return ``name`` if it is a valid run name: 1-250 printable characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > 250 or not name.isprintable():
        raise ValidationError(
            f"run name {name!r} is not valid; expected 1-250 printable characters"
        )
    return name


def check_experiment_name(name: object) -> str:
    """Return ``name`` if it is a valid experiment name (``modelcycle.core.EXPERIMENT_NAME``)."""
    return EXPERIMENT_NAME.check(name)
