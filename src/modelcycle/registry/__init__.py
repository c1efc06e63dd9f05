"""Layer 3 registry: model versions, aliases, gates, rollback, lineage and model cards."""

from __future__ import annotations

from modelcycle.registry._card import EVALUATION_ARTIFACT, card_data, render_html, render_markdown
from modelcycle.registry._gates import Gates, PromotionRefused, lower_is_better
from modelcycle.registry._registry import CHAMPION, Registry
from modelcycle.registry._version import ARCHIVED, READY, AliasEvent, ModelVersion

__all__ = [
    "ARCHIVED",
    "CHAMPION",
    "EVALUATION_ARTIFACT",
    "READY",
    "AliasEvent",
    "Gates",
    "ModelVersion",
    "PromotionRefused",
    "Registry",
    "card_data",
    "lower_is_better",
    "render_html",
    "render_markdown",
]
