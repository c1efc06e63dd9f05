"""Issue 11: a package folder is untrusted input. Manifest paths stay inside the package,
a malformed manifest is an IntegrityError naming the field, links and special files are
refused, and a plain folder is verified like a registry version (every file hashed into
a private copy, signature edits caught)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio  # type: ignore[import-untyped, unused-ignore]
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from modelcycle.core import IntegrityError, NotFound
from modelcycle.packaging import (
    Manifest,
    _package,
    load_model,
    read_manifest,
    save_model,
    verify_package,
)
from modelcycle.packaging._package import MANIFEST, _hash
from modelcycle.packaging.flavors._sklearn import SklearnFlavor
from tests.packaging.test_crafted_models import _forest_pipeline

FRAME = pd.DataFrame({"age": np.arange(40.0), "income": np.linspace(10.0, 50.0, 40)})
LABELS = (FRAME["age"] > 20).astype(int)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    folder = tmp_path / "package"
    save_model(LogisticRegression().fit(FRAME, LABELS), folder, signature=FRAME)
    return folder


def _edit(folder: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    """Rewrite the manifest the way an attacker with write access to the folder would."""
    data = json.loads((folder / MANIFEST).read_text())
    change(data)
    (folder / MANIFEST).write_text(json.dumps(data))


ESCAPES = [
    "../outside",
    "../../../../etc/passwd",
    "/etc/passwd",
    "sub/../../outside",
    "./model.skops",
    "..",
    ".",
    "",
    ".hidden",
    "sub//model.skops",
    "sub/",
    "..\\outside",
    "sub\\..\\..\\outside",
    "C:/outside",
    "c:\\outside",
    "%2e%2e/outside",
    "..%2foutside",
    "\u2024\u2024/outside",  # one-dot leaders, not dots
    "model.skops\x00.txt",
    "model\n.skops",
    "\ud800",  # a lone surrogate (not valid Unicode)
    "ｍodel.skops",  # a full-width letter
    "a" * 200,
    "/".join(["a"] * 17),
    MANIFEST,
]


@pytest.mark.parametrize("name", ESCAPES, ids=[repr(n)[:40] for n in ESCAPES])
def test_a_manifest_path_that_leaves_the_package_is_refused(package: Path, name: str) -> None:
    def point(data: dict[str, Any]) -> None:
        data["files"][name] = data["files"].pop("model.skops")

    _edit(package, point)
    with pytest.raises(IntegrityError, match=r"field 'files'"):
        load_model(package)
    with pytest.raises(IntegrityError, match=r"field 'files'"):
        verify_package(package)


def test_names_equal_but_for_case_are_refused(package: Path) -> None:
    (package / "Model.skops").write_bytes((package / "model.skops").read_bytes())
    _edit(
        package, lambda data: data["files"].update({"Model.skops": _hash(package / "Model.skops")})
    )
    with pytest.raises(IntegrityError, match=r"lists 'Model.skops' besides 'model.skops'"):
        load_model(package)


def _drop(field: str) -> Callable[[dict[str, Any]], Any]:
    return lambda data: data.pop(field)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for key in parents:
            data = data[key]
        data[last] = value

    return change


MALFORMED = {
    "no format": (_drop("format"), r"has format None; expected 'modelcycle.model/1'"),
    "other format": (_set("format", "modelcycle.model/9"), r"has format 'modelcycle.model/9'"),
    "no flavor": (_drop("flavor"), r"has no field 'flavor'; it is required"),
    "no signature": (_drop("signature"), r"has no field 'signature'"),
    "no files": (_drop("files"), r"has no field 'files'"),
    "flavor not a string": (_set("flavor", 3), r"field 'flavor' is a int 3; expected a string"),
    "unknown flavor": (_set("flavor", "pickle"), r"field 'flavor' is 'pickle'; expected one of"),
    "files a list": (_set("files", ["model.skops"]), r"field 'files' is a list"),
    "files empty": (_set("files", {}), r"field 'files' is empty"),
    "entry a string": (_set("files/model.skops", "abc"), r"'files.model.skops' is a str"),
    "entry with extra keys": (
        _set("files/model.skops", {"sha256": "0" * 64, "size": 1, "url": "x"}),
        r"'files.model.skops' is a dict",
    ),
    "digest not hex": (_set("files/model.skops/sha256", "Z" * 64), r"\.sha256 is a str 'ZZZ"),
    "digest upper case": (_set("files/model.skops/sha256", "A" * 64), r"expected 64 hex"),
    "digest short": (_set("files/model.skops/sha256", "0" * 63), r"expected 64 hex digits"),
    "size negative": (_set("files/model.skops/size", -1), r"\.size is a int -1"),
    "size a string": (_set("files/model.skops/size", "10"), r"\.size is a str '10'"),
    "size a boolean": (_set("files/model.skops/size", True), r"\.size is a bool True"),
    "size a float": (_set("files/model.skops/size", 1e308), r"\.size is a float"),
    "trusted a string": (_set("trusted", "yes"), r"field 'trusted' is a str 'yes'; expected true"),
    "trusted a number": (_set("trusted", 1), r"field 'trusted' is a int 1; expected true"),
    "meta a list": (_set("meta", []), r"field 'meta' is a list \[\]; expected an object"),
    "signature a string": (_set("signature", "x"), r"field 'signature' is a str"),
    "inputs an object": (_set("signature/inputs", {}), r"'signature.inputs' is a dict"),
    "input without name": (_set("signature/inputs", [{"type": "double"}]), r"signature.inputs"),
    "input of bad type": (
        _set("signature/inputs", [{"name": "age", "type": "pickle"}]),
        r"field 'signature' is malformed: .*type 'pickle'",
    ),
    "bad task": (_set("signature/task", "astrology"), r"field 'signature' is malformed"),
    "versions not strings": (
        _set("package_versions", {"numpy": 2}),
        r"field 'package_versions' is a dict",
    ),
}


@pytest.mark.parametrize(("change", "message"), MALFORMED.values(), ids=list(MALFORMED))
def test_a_malformed_manifest_is_an_integrity_error_naming_the_field(
    package: Path, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    _edit(package, change)
    with pytest.raises(IntegrityError, match=message):
        load_model(package)
    with pytest.raises(IntegrityError, match=message):
        Manifest.from_bytes((package / MANIFEST).read_bytes())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe{}", r"is not valid JSON"),
        (b"{", r"is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, r"is not valid JSON|has format 'list'"),
        (b"[]", r"has format 'list'"),
        (b"null", r"has format 'NoneType'"),
    ],
    ids=["invalid-utf8", "truncated", "deeply-nested", "a-list", "null"],
)
def test_a_manifest_that_is_not_a_json_object_is_refused(
    package: Path, data: bytes, message: str
) -> None:
    (package / MANIFEST).write_bytes(data)
    with pytest.raises(IntegrityError, match=message):
        load_model(package)


def test_an_oversized_manifest_is_refused_before_it_is_parsed(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_package, "_MAX_MANIFEST_BYTES", 1000)
    (package / MANIFEST).write_bytes(b" " * 1001)
    with pytest.raises(IntegrityError, match=r"larger than 1000 bytes"):
        load_model(package)


def test_a_folder_without_a_manifest_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"is not a model package"):
        load_model(tmp_path)
    with pytest.raises(NotFound, match=r"is not a model package"):
        read_manifest(tmp_path / "missing")


def test_a_model_file_replaced_by_a_link_is_refused_even_with_the_same_bytes(
    package: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.skops"
    outside.write_bytes((package / "model.skops").read_bytes())
    (package / "model.skops").unlink()
    (package / "model.skops").symlink_to(outside)
    with pytest.raises(IntegrityError, match=r"'model.skops' is a symbolic link"):
        load_model(package)


def test_a_linked_manifest_is_refused(package: Path, tmp_path: Path) -> None:
    outside = tmp_path / "manifest.json"
    outside.write_bytes((package / MANIFEST).read_bytes())
    (package / MANIFEST).unlink()
    (package / MANIFEST).symlink_to(outside)
    with pytest.raises(IntegrityError, match=r"'manifest.json' cannot be opened inside"):
        load_model(package)


def test_a_linked_folder_inside_the_package_is_refused(tmp_path: Path) -> None:
    package = _forest_pipeline(tmp_path / "package")
    outside = tmp_path / "learners-elsewhere"
    (package / "learners").rename(outside)
    (package / "learners").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match=r"'learners' is a symbolic link"):
        load_model(package)


def test_an_extra_link_or_special_file_is_refused(package: Path, tmp_path: Path) -> None:
    (package / "extra").symlink_to(tmp_path)
    with pytest.raises(IntegrityError, match=r"'extra' is a symbolic link"):
        load_model(package)
    (package / "extra").unlink()
    os.mkfifo(package / "pipe")
    with pytest.raises(IntegrityError, match=r"'pipe' is not a regular file"):
        load_model(package)


def test_a_listed_special_file_is_refused_without_blocking(package: Path) -> None:
    (package / "model.skops").unlink()
    os.mkfifo(package / "model.skops")  # opening a FIFO for reading would wait for a writer
    with pytest.raises(IntegrityError, match=r"'model.skops' is not a regular file"):
        load_model(package)


def test_an_extra_file_is_refused_and_an_empty_folder_is_not(package: Path) -> None:
    (package / "empty").mkdir()
    assert load_model(package).predict(FRAME).tolist() == LABELS.tolist()
    (package / "empty" / "payload.py").write_text("import os")
    with pytest.raises(IntegrityError, match=r"'empty/payload.py' is not listed"):
        load_model(package)


def test_the_package_root_may_be_a_link(package: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(package, target_is_directory=True)
    assert load_model(tmp_path / "alias").predict(FRAME).tolist() == LABELS.tolist()


def test_the_model_is_loaded_from_the_copy_that_was_verified(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file swapped after verification (a race with another writer) is never loaded."""
    swapped = sio.dumps(LogisticRegression().fit(FRAME, 1 - LABELS))
    load = SklearnFlavor.load

    def racing_load(self: SklearnFlavor, folder: Path, meta: dict[str, Any]) -> Any:
        (package / "model.skops").write_bytes(swapped)  # after the hashes were checked
        return load(self, folder, meta)

    monkeypatch.setattr(SklearnFlavor, "load", racing_load)
    assert load_model(package).predict(FRAME).tolist() == LABELS.tolist()


def _rename_input(data: dict[str, Any]) -> None:
    data["signature"]["inputs"][0]["name"] = "agee"


def _drop_input(data: dict[str, Any]) -> None:
    data["signature"]["inputs"].pop()


@pytest.mark.parametrize("edit", [_rename_input, _drop_input], ids=["renamed", "removed"])
@pytest.mark.parametrize("kind", ["sklearn", "lightgbm", "xgboost", "modelcycle"])
def test_an_edited_signature_is_caught_in_a_plain_folder(
    kind: str, edit: Callable[[dict[str, Any]], None], tmp_path: Path
) -> None:
    folder = tmp_path / "package"
    if kind == "modelcycle":
        _forest_pipeline(folder)
    else:
        model: Any = {
            "sklearn": LogisticRegression(),
            "lightgbm": lgb.LGBMClassifier(n_estimators=3, verbose=-1, min_child_samples=2),
            "xgboost": xgb.XGBClassifier(n_estimators=3),
        }[kind]
        save_model(model.fit(FRAME, LABELS), folder, signature=FRAME)
    load_model(folder)
    _edit(folder, edit)
    with pytest.raises(IntegrityError, match=r"signature does not match the model .* edited"):
        load_model(folder)


@pytest.mark.parametrize(
    ("field", "value"),
    [("learner", "../../outside"), ("learner", "/tmp"), ("preprocessor", "../p")],
)
def test_a_pipeline_naming_a_folder_outside_the_package_is_refused(
    field: str, value: str, tmp_path: Path
) -> None:
    package = _forest_pipeline(tmp_path / "package")
    pipeline = json.loads((package / "pipeline.json").read_text())
    if field == "learner":
        pipeline["members"][0]["learner"] = value
    else:
        pipeline["preprocessors"] = [value]
        pipeline["members"][0]["preprocessor"] = value
    (package / "pipeline.json").write_text(json.dumps(pipeline))
    _edit(
        package,
        lambda data: data["files"].update({"pipeline.json": _hash(package / "pipeline.json")}),
    )
    with pytest.raises(IntegrityError, match=r"pipeline.json names the file"):
        load_model(package)
