"""Challengers as declared: ``churn@challenger=0.1`` (a canary) or ``churn@challenger`` (a shadow).

A *canary* answers that fraction of the requests for a served ``churn`` reference; a
*shadow* predicts every such request again after the answer is sent, without changing
it. This module only reads the declarations (the settings check them); :mod:`._routing`
routes requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelcycle.core import ModelRef, ValidationError


@dataclass(frozen=True)
class Challenger:
    """A challenger reference and the share of its model's traffic it answers."""

    ref: str
    fraction: float

    @property
    def name(self) -> str:
        """The model the challenger competes for."""
        return ModelRef.parse(self.ref).name


def _challenger_ref(text: str, option: str) -> str:
    if "@" not in text and "/" not in text:  # a bare name would mean the champion itself
        raise ValidationError(
            f"{option} {text!r} names no alias or version; expected e.g. 'churn@challenger'"
        )
    return str(ModelRef.parse(text.strip()))


def parse_canary(text: str) -> Challenger:
    """``'name@alias=fraction'`` -> :class:`Challenger`; the fraction is in (0, 1].

    Examples
    --------
    >>> parse_canary("churn@challenger=0.1")
    Challenger(ref='churn@challenger', fraction=0.1)
    """
    ref, sep, share = text.rpartition("=")
    try:
        fraction = float(share) if sep else float("nan")
    except ValueError:
        fraction = float("nan")
    if not 0 < fraction <= 1:
        raise ValidationError(
            f"canary {text!r} is not 'name@alias=fraction' with a fraction in (0, 1]; "
            "expected e.g. 'churn@challenger=0.1'"
        )
    return Challenger(_challenger_ref(ref, "canary"), fraction)


def parse_shadow(text: str) -> Challenger:
    """``'name@alias'`` -> :class:`Challenger` (a shadow answers no traffic: fraction 0).

    Examples
    --------
    >>> parse_shadow("churn@challenger").ref
    'churn@challenger'
    """
    return Challenger(_challenger_ref(text, "shadow"), 0.0)
