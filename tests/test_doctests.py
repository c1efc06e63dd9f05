"""Every ``Examples`` section in the package's docstrings runs and shows what it prints.

A docstring example that no longer matches the code misleads the reader who copies it, so
each module's examples run here (``+SKIP`` marks the few that need a server or a file).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelcycle

#: Alembic's migration environment runs only inside Alembic, ``__main__`` runs the CLI.
NOT_IMPORTABLE = frozenset({"modelcycle.store.migrations.env", "modelcycle.__main__"})


def _modules() -> list[str]:
    found = [modelcycle.__name__]
    for info in pkgutil.walk_packages(modelcycle.__path__, prefix=f"{modelcycle.__name__}."):
        if info.name not in NOT_IMPORTABLE and ".migrations.versions." not in info.name:
            found.append(info.name)
    return sorted(found)


MODULES = _modules()


def test_the_walk_finds_the_packages() -> None:
    assert len(MODULES) > 200 and "modelcycle.serving._columnar" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} docstring example(s) of {name} failed (above)"
