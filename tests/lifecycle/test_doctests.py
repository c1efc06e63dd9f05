"""The examples in the lifecycle docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelcycle.lifecycle

MODULES = ["modelcycle.lifecycle"] + [
    f"modelcycle.lifecycle.{info.name}"
    for info in pkgutil.iter_modules(modelcycle.lifecycle.__path__)
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0
