"""Public names of a package imported on first use (PEP 562), not when the package is.

Importing any module of modelcycle imports every package above it first: a package
that imported its whole API eagerly would make ``modelcycle --version`` load pandas,
SQLAlchemy and Alembic. A package lists where each name lives; ``__all__`` and the
``TYPE_CHECKING`` imports beside it keep the API and the types as they were.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, where: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for ``{module: names}``.

    A name is imported from its module when first read, then kept on the package.

    Examples
    --------
    >>> getter, listing = lazy_exports("json", {"json.decoder": ("JSONDecodeError",)})
    >>> getter("JSONDecodeError").__name__
    'JSONDecodeError'
    >>> "JSONDecodeError" in listing()
    True
    """
    module_of = {name: module for module, names in where.items() for name in names}

    def get(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def listing() -> list[str]:
        # Completion in a notebook lists the names not imported yet too.
        return sorted({*vars(sys.modules[package]), *module_of})

    return get, listing
