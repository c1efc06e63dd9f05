"""Canary and shadow routing: which version answers a request, and which one mirrors it.

A challenger is declared per model name. A *canary* (``churn@challenger=0.1``) answers
that fraction of the requests for a served ``churn`` reference; a *shadow*
(``churn@challenger``) predicts every such request again after the answer is sent,
without changing it. The split draws from one seeded :class:`random.Random` per app,
so a fixed ``route_seed`` and a fixed request order give the same routes every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from modelcycle.core import ModelRef, ValidationError
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._model import ServedModel

#: How a request reached the version that predicted it (the prediction log's ``route``).
Route = Literal["primary", "canary", "shadow"]


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


class Router:
    """Chooses the answering version of each request and names its shadow.

    Parameters
    ----------
    hub:
        The served models (challenger references must be served too, after the others).
    canaries, shadows:
        Declared challengers (at most one of each per model name; the last wins).
    seed:
        Seed of the canary split (``None``: from the operating system).

    Thread-safety: call from the event loop only (the random stream is not locked).
    """

    def __init__(
        self,
        hub: ModelHub,
        canaries: tuple[Challenger, ...] = (),
        shadows: tuple[Challenger, ...] = (),
        *,
        seed: int | None = None,
    ) -> None:
        self.hub = hub
        self._canaries = {c.name: c for c in canaries}
        self._shadows = {c.name: c for c in shadows}
        self._random = random.Random(seed)

    def choose(self, ref: str) -> tuple[ServedModel, Route]:
        """The version answering a request for ``ref`` now, and how it was routed."""
        key = str(ModelRef.parse(ref))
        primary = self.hub.get(key)
        canary = self._canaries.get(primary.name)
        if canary is None or canary.ref == key:
            return primary, "primary"
        if self._random.random() >= canary.fraction:
            return primary, "primary"
        challenger = self.hub.snapshot.get(canary.ref)
        return (challenger, "canary") if challenger is not None else (primary, "primary")

    def shadow_of(self, ref: str, answered: ServedModel) -> ServedModel | None:
        """The version mirroring a request for ``ref`` that ``answered`` answered, if any."""
        shadow = self._shadows.get(answered.name)
        if shadow is None or shadow.ref == str(ModelRef.parse(ref)):
            return None
        mirror = self.hub.snapshot.get(shadow.ref)
        return mirror if mirror is not None and mirror is not answered else None
