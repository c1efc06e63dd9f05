"""Loading skops files: every name a file asks for is checked before anything is built.

A skops file is a zip holding ``schema.json``, a tree of nodes that each name a loader
(``ObjectNode``, ``TypeNode``, ...), a module and a class, and the arrays they read.
skops' own audit trusts some names by default (NumPy and SciPy ufuncs, scikit-learn
estimators) and reports the others for the caller to trust. This module does not lean on
it: :func:`read_skops_names` walks the whole schema itself, without importing anything, and
:func:`check_skops` refuses the file unless every node's loader is in
:data:`ALLOWED_LOADERS` and every name in :data:`ALLOWED_TYPES` (exact names of classes,
never functions). Only then does skops load the file, trusting exactly those names, so its
audit is a second, independent check. Last, scikit-learn trees are checked for node
indices that would make their native code read outside its arrays.

This is the one loader of skops files in modelcycle: the forest learners, the
``sklearn`` flavor and the ``trusted`` flavor all use it. A trusted file may also name
the types recorded when it was saved (the caller's own classes), but never a name that
:func:`trust_problem` refuses: nothing from the standard library (``builtins.exec``,
``os.system``, ``subprocess.Popen``, ``importlib.import_module``, ``functools.partial``,
``operator.attrgetter``, ...), and no function or constructor call of a library such as
``numpy.load``.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from sklearn.tree._tree import Tree

from modelcycle.core import IntegrityError
from modelcycle.learners._skops_types import (
    ALLOWED_LOADERS,
    ALLOWED_TYPES,
    LIBRARIES,
    NUMPY_UFUNCS,
    TRUSTED_LOADERS,
)

_SCHEMA = "schema.json"


@dataclass(frozen=True, order=True)
class SkopsName:
    """One name a skops file would import: ``module.attribute``, and the loader using it."""

    name: str
    module: str
    loader: str


def dump_skops(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` in the skops format (uncompressed, as this module wants)."""
    # Imported here: skops imports every scikit-learn estimator as it loads (about a
    # second), which a server of models without skops files need not pay.
    import skops.io as sio  # type: ignore[import-untyped, unused-ignore]

    sio.dump(obj, path)


def read_skops_names(path: Path) -> list[SkopsName]:
    """Every name the skops file at ``path`` would import, read from its schema alone.

    Raises
    ------
    IntegrityError
        The file is not a zip, has compressed members, or its schema is not a JSON
        tree of well-formed nodes.
    """
    schema = _read_schema(path)
    found: set[SkopsName] = set()
    for node in _nodes(schema):
        found.update(_names_of(node, path))
    return sorted(found)


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            packed = [i.filename for i in archive.infolist() if i.compress_type != 0]
            if packed:
                raise IntegrityError(
                    f"model file {path.name!r} has compressed members {packed[:5]}; skops files "
                    "are written uncompressed, so nothing in them can expand beyond their size"
                )
            schema = json.loads(archive.read(_SCHEMA))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, RecursionError) as exc:
        raise IntegrityError(
            f"model file {path.name!r} is not a readable skops file: {exc}"
        ) from None
    if not isinstance(schema, dict):
        raise IntegrityError(
            f"model file {path.name!r} has a {type(schema).__name__} as {_SCHEMA}; "
            "expected an object"
        )
    return schema


def _nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of the schema, wherever it sits: any object with a ``__loader__`` key."""
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _names_of(node: dict[str, Any], path: Path) -> list[SkopsName]:
    loader, module, name = node.get("__loader__"), node.get("__module__"), node.get("__class__")
    if not (isinstance(loader, str) and _is_dotted(module) and _is_dotted(name, parts=1)):
        raise IntegrityError(
            f"model file {path.name!r} has a node with loader {loader!r}, module {module!r} and "
            f"class {name!r}; expected a string, a dotted module name and an identifier"
        )
    if loader == "MethodNode":  # a bound method: the class's attribute named by "func"
        method = _field(node, path, "content", "func")
        if not _is_dotted(method, parts=1):
            raise IntegrityError(f"model file {path.name!r} names a method {method!r}")
        return [SkopsName(f"{module}.{name}.{method}", module, loader)]
    found = [SkopsName(f"{module}.{name}", module, loader)]
    if loader == "RandomGeneratorNode":  # the bit generator's class, named inside the state
        found.append(SkopsName(_bit_generator(node, path), "numpy.random", loader))
    return found


def _is_dotted(value: Any, parts: int | None = None) -> TypeGuard[str]:
    """Whether ``value`` is identifiers joined by dots (``parts`` of them, when given)."""
    if not isinstance(value, str):
        return False
    names = value.split(".")
    return all(n.isidentifier() for n in names) and parts in (None, len(names))


def _field(node: dict[str, Any], path: Path, *keys: str) -> str:
    """The string at ``node[keys[0]][keys[1]]...`` (where skops reads it), or refuse the file."""
    value: Any = node
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str):
        raise IntegrityError(
            f"model file {path.name!r} has a {node.get('__loader__')!r} node without a string "
            f"at {'.'.join(keys)!r} (found {value!r})"
        )
    return value


def _bit_generator(node: dict[str, Any], path: Path) -> str:
    """``numpy.random.<name>``: the class a Generator's state names (skops calls it on load)."""
    state = _field(node, path, "content", "bit_generator", "content", "bit_generator", "content")
    try:
        name = json.loads(state)
    except ValueError:
        name = None
    if not isinstance(name, str):
        raise IntegrityError(
            f"model file {path.name!r} has a Generator whose bit generator is {state!r}; "
            "expected a JSON string"
        )
    return f"numpy.random.{name}"


def trust_problem(name: SkopsName) -> str | None:
    """Why ``name`` can never be trusted, even by a caller vouching for the model (or None).

    Trust covers the caller's own code. The standard library is never the caller's code
    (it holds ``exec``, ``getattr``, ``open``, ``os.system``, ``subprocess.Popen``,
    ``importlib``, ``functools.partial``, ``operator``); a library's names may only be
    objects rebuilt from their state, never functions or constructors called with the
    file's data (``numpy.load``, ``numpy.fromfile``, ``scipy.io.savemat``), except
    NumPy's ufuncs as functions (``numpy.log1p``: arithmetic, no input or output).
    """
    root = name.module.partition(".")[0]
    if root in sys.stdlib_module_names:
        return "the standard library is never trusted"
    if name.loader == "FunctionNode" and name.name in NUMPY_UFUNCS:
        return None
    if root in LIBRARIES and name.loader != "ObjectNode":
        return f"a library's {_LOADER_WORDS.get(name.loader, name.loader)} is never trusted"
    return None


_LOADER_WORDS = {
    "FunctionNode": "function",
    "MethodNode": "method",
    "TypeNode": "type as a value",
    "ConstructorFromReduceNode": "constructor call",
}


def problems(names: Collection[SkopsName], trusted: Collection[str] | None = None) -> list[str]:
    """Why a file with ``names`` may not be loaded (empty when it may).

    ``trusted`` (for a model the caller vouched for) are the names beyond
    :data:`ALLOWED_TYPES` recorded when it was saved; trust also opens
    :data:`TRUSTED_LOADERS`, and never admits what :func:`trust_problem` refuses.
    """
    loaders = ALLOWED_LOADERS if trusted is None else TRUSTED_LOADERS
    found = []
    refused_loaders = sorted({n.loader for n in names if n.loader not in loaders})
    if refused_loaders:
        found.append(f"skops loaders outside the allow-list: {refused_loaders}")
    foreign = [n for n in names if n.name not in ALLOWED_TYPES]
    never = sorted({f"{n.name} ({reason})" for n in foreign if (reason := trust_problem(n))})
    if trusted is not None and never:
        found.append(f"names that no trust admits: {never}")
    refused = sorted({n.name for n in foreign if n.name not in (trusted or ())})
    if refused:
        unless = "" if trusted is None else " that were not trusted when the model was saved"
        found.append(f"types outside the allow-list{unless}: {refused}")
    return found


def skops_types_to_trust(path: Path) -> list[str]:
    """The names in the file beyond :data:`ALLOWED_TYPES`, for a caller vouching for them.

    Raises
    ------
    IntegrityError
        The file is malformed, or names something no trust admits (see :func:`trust_problem`).
    """
    names = read_skops_names(path)
    foreign = sorted({n.name for n in names if n.name not in ALLOWED_TYPES})
    found = problems(names, trusted=foreign)
    if found:
        raise IntegrityError(f"model file {path.name!r} holds " + "; ".join(found))
    return foreign


def check_skops(path: Path, *, trusted: Collection[str] | None = None) -> list[SkopsName]:
    """Refuse the skops file at ``path`` unless every name in it is allowed (or ``trusted``).

    Nothing is imported or built. Returns the names the file uses. ``trusted`` is for a
    model the caller vouched for: the names recorded when it was saved (see :func:`problems`).

    Raises
    ------
    IntegrityError
        The file is malformed, or names a loader or type outside the allow-list.
    """
    names = read_skops_names(path)
    found = problems(names, trusted=None if trusted is None else frozenset(trusted))
    if found:
        advice = (
            "scikit-learn, LightGBM and XGBoost estimators and NumPy arrays are accepted; "
            "log a model of your own classes with flavor='trusted', trusted=True"
            if trusted is None
            else "the file differs from the model that was vouched for"
        )
        raise IntegrityError(
            f"model file {path.name!r} holds "
            + "; ".join(found)
            + f"; refusing to load it ({advice})"
        )
    return names


def load_skops(
    path: Path, expected: type = object, *, trusted: Collection[str] | None = None
) -> Any:
    """Load the skops file at ``path`` after :func:`check_skops` accepts it.

    Parameters
    ----------
    expected:
        The class the loaded object must be an instance of.
    trusted:
        For a model the caller vouched for: the exact names beyond :data:`ALLOWED_TYPES`
        recorded when it was saved.

    Raises
    ------
    IntegrityError
        The file is malformed, names a loader or type outside the allow-list (nothing
        has been imported or built then), holds a tree whose node indices are out of
        range, or does not hold an instance of ``expected``.
    """
    import skops.io as sio  # type: ignore[import-untyped, unused-ignore]  # see dump_skops

    names = check_skops(path, trusted=trusted)
    try:
        obj = sio.load(path, trusted=sorted({n.name for n in names}))
    except Exception as exc:  # the file is untrusted input: any failure refuses it
        raise IntegrityError(f"model file {path.name!r} could not be rebuilt: {exc!r}") from None
    for problem in _tree_problems(obj):
        raise IntegrityError(f"model file {path.name!r} holds {problem}; refusing to load it")
    if not isinstance(obj, expected):
        raise IntegrityError(
            f"model file {path.name!r} holds a {type(obj).__name__}; expected a {expected.__name__}"
        )
    return obj


def _tree_problems(root: Any) -> Iterator[str]:
    """Trees whose native prediction code would read outside their arrays.

    scikit-learn follows a tree's child and feature indices without bounds checks, so
    each inner node's children must come after it (no cycles) and inside the tree, and
    its feature inside the rows the owning estimator checks its inputs against.
    """
    for obj in _objects(root):
        if isinstance(obj, Tree):
            problem = _tree_problem(obj)
            if problem:
                yield f"a decision tree with {problem}"
        tree = getattr(obj, "tree_", None)
        features = getattr(obj, "n_features_in_", None)
        if isinstance(tree, Tree) and features is not None and tree.n_features != features:
            yield f"a tree of {tree.n_features} features in an estimator of {features}"
        members = getattr(obj, "estimators_", None)
        if features is not None and not hasattr(obj, "estimators_features_"):
            for member in _members(members):
                own = getattr(member, "n_features_in_", features)
                if hasattr(member, "tree_") and own != features:
                    yield f"a tree estimator of {own} features in an ensemble of {features}"


def _members(members: Any) -> list[Any]:
    """An ensemble's fitted members: a list, or an array of them (gradient boosting)."""
    if isinstance(members, np.ndarray) and members.dtype == object:
        return list(members.ravel())
    return list(members) if isinstance(members, list | tuple) else []


def _tree_problem(tree: Tree) -> str | None:
    count, capacity = int(tree.node_count), int(tree.capacity)
    if not 0 < count <= capacity:  # read these first: the node arrays span node_count
        return f"{count} nodes in room for {capacity}"
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, index = np.asarray(tree.feature), np.arange(count)
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        return "a node that has one child"
    inner = ~leaf
    for children in (left[inner], right[inner]):
        if np.any(children <= index[inner]) or np.any(children >= count):
            return "a child index out of range"
    if np.any(feature[inner] < 0) or np.any(feature[inner] >= tree.n_features):
        return f"a feature index outside its {tree.n_features} features"
    return None


def _objects(root: Any) -> Iterator[Any]:
    """Every object reachable from ``root`` through containers, object arrays and attributes."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | bytearray | int | float):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel())
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
