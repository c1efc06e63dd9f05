"""The one skops loader (issue 11): a malformed file, a name outside the allow-list and
a tree whose indices lead outside its arrays are all refused with IntegrityError."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio  # type: ignore[import-untyped, unused-ignore]
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
from sklearn.tree import DecisionTreeClassifier

from modelcycle.core import IntegrityError
from modelcycle.learners import load_skops, read_skops_names
from tests.crafted_skops import Node, call, rewrite_schema, type_of, value

X = np.random.default_rng(0).normal(size=(80, 4))
Y = (X[:, 0] > 0).astype(int)


def _tree() -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=0).fit(X, Y)


def _saved(model: Any, path: Path) -> Path:
    sio.dump(model, path)
    return path


def test_a_legitimate_file_loads(tmp_path: Path) -> None:
    loaded = load_skops(_saved(_tree(), tmp_path / "m.skops"), DecisionTreeClassifier)
    assert np.array_equal(loaded.predict(X), Y)


def _schema_edit(edit: Callable[[Node], Node | None]) -> Callable[[Node], Node]:
    def apply(schema: Node) -> Node:
        changed = edit(schema)
        return schema if changed is None else changed

    return apply


def _attributes(schema: Node) -> dict[str, Node]:
    found: dict[str, Node] = schema["content"]["content"]
    return found


MALFORMED: dict[str, tuple[Callable[[Node], Node | None], str]] = {
    "module not a string": (lambda s: s.update(__module__=["sklearn"]), r"module \['sklearn'\]"),
    "class with a dot": (
        lambda s: s.update(__module__="sklearn", __class__="tree.DecisionTreeClassifier"),
        r"class 'tree.DecisionTreeClassifier'; expected",
    ),
    "module with a space": (lambda s: s.update(__module__="sklearn.tree "), r"'sklearn.tree '"),
    "empty module part": (lambda s: s.update(__module__="sklearn..tree"), r"'sklearn..tree'"),
    "lone surrogate": (lambda s: s.update(__class__="\ud800"), r"class '\\ud800'"),
    "loader not a string": (lambda s: s.update(__loader__=None), r"loader None"),
    "method without a name": (
        lambda s: {
            "__class__": "str",
            "__module__": "builtins",
            "__loader__": "MethodNode",
            "content": {"obj": value(1)},
            "protocol": 2,
        },
        r"'MethodNode' node without a string at 'content.func'",
    ),
    "method not an identifier": (
        lambda s: {
            "__class__": "str",
            "__module__": "builtins",
            "__loader__": "MethodNode",
            "content": {"func": "__class__.__init__", "obj": value(1)},
            "protocol": 2,
        },
        r"names a method '__class__.__init__'",
    ),
}


@pytest.mark.parametrize(("edit", "message"), MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_node_is_refused(
    edit: Callable[[Node], Node | None], message: str, tmp_path: Path
) -> None:
    path = _saved(_tree(), tmp_path / "m.skops")
    rewrite_schema(path, _schema_edit(edit))
    with pytest.raises(IntegrityError, match=message):
        load_skops(path)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 not really", r"not a readable skops file"),
        (b"", r"not a readable skops file"),
        (_zip({"other.json": b"{}"}), r"no item named 'schema.json'"),
        (_zip({"schema.json": b"{"}), r"not a readable skops file"),
        (_zip({"schema.json": b"\xff\xfe"}), r"not a readable skops file"),
        (_zip({"schema.json": b"[]"}), r"has a list as schema.json"),
        (_zip({"schema.json": b"[" * 200_000 + b"]" * 200_000}), r"not a readable skops file"),
        (_zip({"schema.json": b"{}" + b" " * 10_000_000}, zipfile.ZIP_DEFLATED), r"compressed"),
    ],
    ids=["bad-zip", "empty", "no-schema", "bad-json", "invalid-utf8", "a-list", "deep", "bomb"],
)
def test_a_file_that_is_not_a_skops_archive_is_refused(
    data: bytes, message: str, tmp_path: Path
) -> None:
    (tmp_path / "m.skops").write_bytes(data)
    with pytest.raises(IntegrityError, match=message) as error:
        load_skops(tmp_path / "m.skops")
    assert "'m.skops'" in error.value.message


@pytest.mark.parametrize("depth", [400, 100_000])
def test_deeply_nested_allowed_nodes_are_refused_not_crashed_on(depth: int, tmp_path: Path) -> None:
    """Lists in lists: too deep for skops' recursion (400) or for the JSON parser."""
    opening = (
        '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    )
    schema = '{"protocol": 2, ' + opening[1:] + opening * (depth - 1)
    schema += json.dumps(value(1)) + "]}" * depth
    (tmp_path / "m.skops").write_bytes(_zip({"schema.json": schema.encode()}))
    with pytest.raises(IntegrityError, match=r"not a readable skops file|could not be rebuilt"):
        load_skops(tmp_path / "m.skops")


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"__class__": "x", "__module__": "builtins", "__loader__": "EvilNode"}, r"'EvilNode'"),
        (
            {"__class__": "x", "__module__": "builtins", "__loader__": "CachedNode", "__id__": 1},
            r"'CachedNode'",
        ),
        (call("builtins", "str", value("x")), r"\['ConstructorFromReduceNode'\]"),
        (type_of("builtins", "exec"), r"types outside the allow-list: \['builtins.exec'\]"),
        (type_of("builtins", "type"), r"types outside the allow-list: \['builtins.type'\]"),
        (
            {**value(1), "__module__": "os", "__class__": "system"},  # names ignored by skops
            r"\['os.system'\]",
        ),
    ],
    ids=["unknown-loader", "cached-node", "constructor-call", "exec", "type", "json-named-os"],
)
def test_a_name_or_loader_outside_the_allow_list_is_refused(
    node: Node, message: str, tmp_path: Path
) -> None:
    path = _saved({"a": 1}, tmp_path / "m.skops")
    rewrite_schema(path, lambda schema: _with_attribute(schema, node))
    with pytest.raises(IntegrityError, match=message):
        load_skops(path)


def _with_attribute(schema: Node, node: Node) -> Node:
    schema["content"]["extra"] = node
    schema["key_types"]["content"].append(type_of("builtins", "str"))
    return schema


def _generator(schema: Node) -> Node:
    for node in _walk(schema):
        if node.get("__loader__") == "RandomGeneratorNode":
            return node
    raise AssertionError("no Generator in the file")


def _walk(item: Any) -> list[Node]:
    found = []
    stack = [item]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            found.append(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ('"seed"', r"\['numpy.random.seed'\]"),
        ('"MT19937"', r"\['numpy.random.MT19937'\]"),
        ("42", r"bit generator is '42'"),
        ("not json", r"bit generator is 'not json'"),
    ],
)
def test_a_generator_naming_another_bit_generator_is_refused(
    name: str, message: str, tmp_path: Path
) -> None:
    """skops calls ``getattr(numpy.random, <name from the file>)`` to rebuild a Generator."""
    path = _saved(HistGradientBoostingClassifier(max_iter=2).fit(X, Y), tmp_path / "m.skops")

    def rename(schema: Node) -> Node:
        state = _generator(schema)["content"]["bit_generator"]["content"]["bit_generator"]
        state["content"] = name
        return schema

    rewrite_schema(path, rename)
    with pytest.raises(IntegrityError, match=message):
        load_skops(path)


# -- trees: indices scikit-learn follows without bounds checks ------------------------


def _corrupt(model: Any, change: Callable[[Any], None], path: Path) -> Path:
    change(model)
    sio.dump(model, path)
    return path


def _child_out_of_range(model: DecisionTreeClassifier) -> None:
    model.tree_.children_left[0] = 10_000


def _child_before_parent(model: DecisionTreeClassifier) -> None:
    model.tree_.children_right[0] = 0  # a cycle: the root is its own child


def _one_child(model: DecisionTreeClassifier) -> None:
    leaf = int(np.flatnonzero(model.tree_.children_left == -1)[0])
    model.tree_.children_left[leaf] = leaf + 1


def _feature_out_of_range(model: DecisionTreeClassifier) -> None:
    model.tree_.feature[0] = 4


def _negative_feature(model: DecisionTreeClassifier) -> None:
    model.tree_.feature[0] = -5


def _fewer_features_than_the_estimator(model: DecisionTreeClassifier) -> None:
    model.n_features_in_ = 9


TREE_CORRUPTIONS = {
    "child-out-of-range": (_child_out_of_range, r"a child index out of range"),
    "child-before-parent": (_child_before_parent, r"a child index out of range"),
    "one-child": (_one_child, r"a node that has one child"),
    "feature-out-of-range": (_feature_out_of_range, r"a feature index outside its 4 features"),
    "negative-feature": (_negative_feature, r"a feature index outside"),
    "tree-narrower-than-estimator": (
        _fewer_features_than_the_estimator,
        r"a tree of 4 features in an estimator of 9",
    ),
}


@pytest.mark.parametrize(
    ("change", "message"), TREE_CORRUPTIONS.values(), ids=list(TREE_CORRUPTIONS)
)
def test_a_tree_whose_indices_leave_its_arrays_is_refused(
    change: Callable[[Any], None], message: str, tmp_path: Path
) -> None:
    path = _corrupt(_tree(), change, tmp_path / "m.skops")
    sio.load(path, trusted=sio.get_untrusted_types(file=path))  # scikit-learn takes it
    with pytest.raises(IntegrityError, match=message):
        load_skops(path)


@pytest.mark.parametrize("count", [0, -5])
def test_a_tree_without_nodes_is_refused(count: int, tmp_path: Path) -> None:
    """scikit-learn lowers a node count above the nodes held, but keeps one below one."""
    path = _saved(_tree(), tmp_path / "m.skops")

    def empty(schema: Node) -> Node:
        for node in _walk(schema):
            if node.get("__loader__") == "TreeNode":
                node["content"]["content"]["node_count"] = value(count)
        return schema

    rewrite_schema(path, empty)
    with pytest.raises(IntegrityError, match=rf"{count} nodes in room for \d+"):
        load_skops(path)


def test_a_boosting_member_narrower_than_its_ensemble_is_refused(tmp_path: Path) -> None:
    """Gradient boosting calls its trees' native code on inputs checked only by itself."""
    model = GradientBoostingRegressor(n_estimators=3).fit(X, X[:, 0])
    model.estimators_[1, 0].n_features_in_ = 2
    model.estimators_[1, 0].tree_ = DecisionTreeClassifier().fit(X[:, :2], Y).tree_
    path = _saved(model, tmp_path / "m.skops")
    with pytest.raises(IntegrityError, match=r"a tree estimator of 2 features in an ensemble of 4"):
        load_skops(path)


def test_a_skops_file_is_read_without_importing_what_it_names(tmp_path: Path) -> None:
    path = _saved({"a": 1}, tmp_path / "m.skops")
    module = "modelcycle_test_never_imported"
    rewrite_schema(path, lambda s: _with_attribute(s, type_of(module, "Thing")))
    assert f"{module}.Thing" in {n.name for n in read_skops_names(path)}
    with pytest.raises(IntegrityError, match=module):
        load_skops(path)
    import sys

    assert module not in sys.modules
    assert json.loads(zipfile.ZipFile(path).read("schema.json"))["protocol"] >= 0
