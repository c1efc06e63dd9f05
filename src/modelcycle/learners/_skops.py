"""Loading scikit-learn objects with skops, trusting only an explicit allow-list of types.

skops never unpickles: it rebuilds objects from a zip of JSON and arrays, and
refuses types it does not trust. :func:`load_allowed` asks skops which types a
file would need trusted, refuses the file if any is outside :data:`ALLOWED_TYPES`,
and only then loads it, trusting exactly those types.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio  # type: ignore[import-untyped, unused-ignore]

from modelcycle.core import IntegrityError

#: Type names a saved forest may contain beyond those skops trusts by default.
ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
    }
)

# What skops raises on a file that is not a well-formed skops archive.
_MALFORMED = (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, OSError)


def dump(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` in the skops format."""
    sio.dump(obj, path)


def load_allowed(path: Path, expected: type) -> Any:
    """Load the skops file at ``path`` if it only needs allow-listed types.

    Raises
    ------
    IntegrityError
        The file is malformed, needs a type outside :data:`ALLOWED_TYPES`, or
        does not hold an instance of ``expected``.
    """
    try:
        untrusted = [str(name) for name in sio.get_untrusted_types(file=path)]
    except _MALFORMED as exc:
        raise IntegrityError(f"{str(path)!r} is not a readable skops file: {exc!r}") from None
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise IntegrityError(
            f"{str(path)!r} holds types outside the allow-list: {refused}; refusing to load it "
            "(only scikit-learn trees, forests and NumPy arrays are accepted)"
        )
    try:
        obj = sio.load(path, trusted=untrusted)
    except _MALFORMED as exc:
        raise IntegrityError(f"{str(path)!r} could not be loaded: {exc!r}") from None
    if not isinstance(obj, expected):
        raise IntegrityError(
            f"{str(path)!r} holds a {type(obj).__name__}; expected a {expected.__name__}"
        )
    return obj
