"""Layer 3 registry: model versions, aliases, gates, rollback, lineage and model cards."""

from __future__ import annotations

from modelcycle.registry._card import (
    ModelCard,
    card_data,
    model_card,
    render_html,
    render_markdown,
)
from modelcycle.registry._gates import Gates, PromotionRefused
from modelcycle.registry._registry import CHAMPION, Registry
from modelcycle.registry._version import (
    ARCHIVED,
    MODEL_NAME_PATTERN,
    READY,
    AliasEvent,
    ModelVersion,
    check_model_name,
)

__all__ = [
    "ARCHIVED",
    "CHAMPION",
    "MODEL_NAME_PATTERN",
    "READY",
    "AliasEvent",
    "Gates",
    "ModelCard",
    "ModelVersion",
    "PromotionRefused",
    "Registry",
    "card_data",
    "check_model_name",
    "model_card",
    "render_html",
    "render_markdown",
]
