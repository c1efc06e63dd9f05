"""Canary and shadow routing: which version answers a request, and which one mirrors it.

A challenger is declared per model name (:mod:`._challengers`). The split draws from one
seeded :class:`random.Random` per app, so a fixed ``route_seed`` and a fixed request
order give the same routes every run.
"""

from __future__ import annotations

import random
from typing import Literal

from modelcycle.core import ModelRef
from modelcycle.serving._challengers import Challenger, parse_canary, parse_shadow
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._model import ServedModel

__all__ = ["Challenger", "Route", "Router", "parse_canary", "parse_shadow"]

#: How a request reached the version that predicted it (the prediction log's ``route``).
Route = Literal["primary", "canary", "shadow"]


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
