"""The examples in the evaluation docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelcycle.evaluation

MODULES = ["modelcycle.evaluation"] + [
    f"modelcycle.evaluation.{info.name}"
    for info in pkgutil.iter_modules(modelcycle.evaluation.__path__)
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
