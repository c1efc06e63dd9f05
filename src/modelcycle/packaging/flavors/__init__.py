"""Model flavors: one module per family of models, each saving in a safe format."""

from __future__ import annotations

from typing import Any

from modelcycle.core import ValidationError
from modelcycle.packaging.flavors._base import Flavor, Predictor
from modelcycle.packaging.flavors._lightgbm import LightGBMFlavor
from modelcycle.packaging.flavors._modelcycle import ModelcycleFlavor
from modelcycle.packaging.flavors._pickle import PickleFlavor
from modelcycle.packaging.flavors._sklearn import SklearnFlavor, safe_skops_load
from modelcycle.packaging.flavors._xgboost import XGBoostFlavor

#: Flavors tried in order when none is named; pickle is never chosen automatically.
SAFE_FLAVORS: tuple[type[Flavor], ...] = (
    ModelcycleFlavor,
    LightGBMFlavor,
    XGBoostFlavor,
    SklearnFlavor,
)
_EVERY_FLAVOR: list[type[Flavor]] = [*SAFE_FLAVORS, PickleFlavor]
_ALL: dict[str, type[Flavor]] = {flavor.name: flavor for flavor in _EVERY_FLAVOR}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``."""
    try:
        return _ALL[name]()
    except KeyError:
        raise ValidationError(
            f"unknown model flavor {name!r}; expected one of {sorted(_ALL)}"
        ) from None


def detect_flavor(model: Any) -> Flavor:
    """The first safe flavor that accepts ``model``."""
    for flavor in SAFE_FLAVORS:
        if flavor.accepts(model):
            return flavor()
    raise ValidationError(
        f"no safe format is known for a {type(model).__module__}.{type(model).__qualname__}; "
        "log scikit-learn estimators or LightGBM models, or pass flavor='pickle', trusted=True "
        "if you trust this model's code"
    )


__all__ = [
    "Flavor",
    "LightGBMFlavor",
    "ModelcycleFlavor",
    "PickleFlavor",
    "Predictor",
    "SklearnFlavor",
    "XGBoostFlavor",
    "detect_flavor",
    "get_flavor",
    "safe_skops_load",
]
