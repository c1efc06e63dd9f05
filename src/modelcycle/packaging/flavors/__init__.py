"""Model flavors: one module per family of models, each saving in a safe format.

Flavor modules import their library (LightGBM, skops, XGBoost) when first used, so
reading the registry does not pay for libraries a workspace never loads.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelcycle.core import ValidationError
from modelcycle.packaging.flavors._base import Flavor, Predictor

#: name -> (module, class); safe flavors in the order they are tried, trusted last.
_FLAVORS = {
    "modelcycle": ("modelcycle.packaging.flavors._modelcycle", "ModelcycleFlavor"),
    "lightgbm": ("modelcycle.packaging.flavors._lightgbm", "LightGBMFlavor"),
    "xgboost": ("modelcycle.packaging.flavors._xgboost", "XGBoostFlavor"),
    "sklearn": ("modelcycle.packaging.flavors._sklearn", "SklearnFlavor"),
    "onnx": ("modelcycle.packaging.flavors._onnx", "OnnxFlavor"),
    "trusted": ("modelcycle.packaging.flavors._trusted", "TrustedFlavor"),
}
#: Former names still accepted when saving.
_ALIASES = {"pickle": "trusted"}
SAFE_FLAVORS = ("modelcycle", "onnx", "lightgbm", "xgboost", "sklearn")
#: Every flavor name a manifest may record.
FLAVOR_NAMES = tuple(_FLAVORS)


def flavor_class(name: str) -> type[Flavor]:
    """The flavor class called ``name`` (its module is imported on first use)."""
    try:
        module, attribute = _FLAVORS[_ALIASES.get(name, name)]
    except KeyError:
        raise ValidationError(
            f"unknown model flavor {name!r}; expected one of {sorted(_FLAVORS)}"
        ) from None
    found: type[Flavor] = getattr(importlib.import_module(module), attribute)
    return found


def get_flavor(name: str) -> Flavor:
    """An instance of the flavor called ``name``."""
    return flavor_class(name)()


def detect_flavor(model: Any) -> Flavor:
    """The first safe flavor that accepts ``model``."""
    for name in SAFE_FLAVORS:
        flavor = flavor_class(name)
        if flavor.accepts(model):
            return flavor()
    raise ValidationError(
        f"no safe format is known for a {type(model).__module__}.{type(model).__qualname__}; "
        "log scikit-learn estimators, LightGBM or XGBoost models or ONNX files, or pass "
        "flavor='trusted', trusted=True if you trust this model's code"
    )


__all__ = [
    "FLAVOR_NAMES",
    "SAFE_FLAVORS",
    "Flavor",
    "Predictor",
    "detect_flavor",
    "flavor_class",
    "get_flavor",
]
