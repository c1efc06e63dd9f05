"""Issue 11: no code runs from a model file. Each crafted skops file of the corpus
(``tests/crafted_skops.py``) is refused with IntegrityError before anything is built,
and the marker its payload would write never appears, whether the package is plain,
forged as trusted, or a forest inside a modelcycle pipeline."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio  # type: ignore[import-untyped, unused-ignore]
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from modelcycle.core import Column, ColumnKind, IntegrityError, Schema, Task, ValidationError
from modelcycle.features import Preprocessor
from modelcycle.learners import RandomForestLearner
from modelcycle.packaging import Member, ModelPipeline, load_model, save_model
from tests.crafted_skops import PAYLOADS, PLACES, Payload, Target, craft, craft_package, would_run
from tests.learners.helpers import rehash

CRAFTED = pytest.mark.parametrize(
    ("payload", "place"),
    [(p, place) for p in PAYLOADS for place in PLACES],
    ids=[f"{p.name}-{place}" for p in PAYLOADS for place in PLACES],
)
#: The rule this issue replaces: types trusted by the prefix of their module.
OLD_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "lightgbm.")


@CRAFTED
def test_each_crafted_file_runs_its_payload_when_skops_trusts_it(
    payload: Payload, place: str, tmp_path: Path
) -> None:
    """The corpus is live: without our check, loading it runs the payload."""
    target = Target.prepare(tmp_path)
    craft(tmp_path / "model.skops", payload, place, target)
    assert would_run(tmp_path / "model.skops", target)


@pytest.mark.parametrize("name", ["exec", "eval", "numpy.load", "scipy.io.savemat"])
def test_the_old_prefix_rule_let_these_files_through(name: str, tmp_path: Path) -> None:
    payload = next(p for p in PAYLOADS if p.name == name)
    craft(tmp_path / "model.skops", payload, "pipeline", Target.prepare(tmp_path))
    untrusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert set(payload.abused) <= set(untrusted)
    assert all(t.startswith(OLD_PREFIXES) for t in untrusted)


def _refused(error: pytest.ExceptionInfo[IntegrityError], payload: Payload) -> None:
    for name in payload.abused:
        assert name in error.value.message, error.value.message


@CRAFTED
def test_each_crafted_package_is_refused_before_its_payload_runs(
    payload: Payload, place: str, tmp_path: Path
) -> None:
    target = Target.prepare(tmp_path)
    package = craft_package(tmp_path / "package", payload, place, target)
    with pytest.raises(IntegrityError, match=r"outside the allow-list") as error:
        load_model(package)
    _refused(error, payload)
    assert str(package) in error.value.message
    assert not target.marker.exists()


@CRAFTED
def test_trust_does_not_admit_the_interpreter_or_a_library_function(
    payload: Payload, place: str, tmp_path: Path
) -> None:
    """A package forged as trusted, every name in its file listed as vouched for."""
    target = Target.prepare(tmp_path)
    package = craft_package(tmp_path / "package", payload, place, target, trusted=True)
    with pytest.raises(IntegrityError, match=r"no trust admits|loaders outside") as error:
        load_model(package, trusted=True)
    _refused(error, payload)
    assert not target.marker.exists()


def _forest_pipeline(folder: Path) -> Path:
    """A modelcycle-flavor package holding one random forest learner (a skops file)."""
    schema = Schema((Column("age", ColumnKind.NUMERIC), Column("plan", ColumnKind.CATEGORICAL)))
    frame = pd.DataFrame({"age": np.arange(60.0), "plan": ["a", "b", "c"] * 20})
    y = (frame["age"] > 30).astype(int).to_numpy()
    pre = Preprocessor(schema=schema).fit(frame)
    learner = RandomForestLearner(task=Task.BINARY, params={"n_estimators": 3}, random_state=0)
    learner.fit(pre.transform(frame), y)
    members = [Member(learner, "p", 1.0)]
    model = ModelPipeline(
        task=Task.BINARY, preprocessors={"p": pre}, members=members, classes=[0, 1]
    )
    save_model(model, folder, signature=frame)
    return folder


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.name for p in PAYLOADS])
def test_a_crafted_forest_inside_a_modelcycle_package_is_refused(
    payload: Payload, tmp_path: Path
) -> None:
    from modelcycle.packaging._package import MANIFEST, _hash

    target = Target.prepare(tmp_path)
    package = _forest_pipeline(tmp_path / "package")
    learner = package / "learners" / "0"
    craft(learner / "model.skops", payload, "top", target)
    rehash(learner)  # the attacker rewrites learner.json ...
    manifest = json.loads((package / MANIFEST).read_text())
    for name in ("learners/0/model.skops", "learners/0/learner.json"):
        manifest["files"][name] = _hash(package / name)  # ... and the package manifest
    (package / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"outside the allow-list") as error:
        load_model(package)
    _refused(error, payload)
    assert not target.marker.exists()


def _double(x: Any) -> Any:
    """A function of the caller's own: trust covers it."""
    return np.asarray(x) * 2.0


@pytest.mark.parametrize(
    ("function", "refused"),
    [
        (np.nan_to_num, r"numpy\.nan_to_num \(a library's function is never trusted\)"),
        (functools.partial(np.multiply, 2.0), r"functools\.partial"),
        (abs, r"builtins\.abs \(the standard library is never trusted\)"),
    ],
    ids=["numpy-function", "partial", "builtin"],
)
def test_saving_as_trusted_refuses_what_no_trust_admits(
    function: Any, refused: str, tmp_path: Path
) -> None:
    X, y = np.abs(np.random.default_rng(0).normal(size=(40, 2))), np.arange(40) % 2
    model = make_pipeline(FunctionTransformer(function), LogisticRegression()).fit(X, y)
    frame = pd.DataFrame(X, columns=["a", "b"])
    with pytest.raises(ValidationError, match=refused):
        save_model(model, tmp_path / "m", signature=frame, flavor="trusted", trusted=True)
    assert not (tmp_path / "m" / "model.skops").exists()
    with pytest.raises(ValidationError, match=r"cannot be saved with the sklearn flavor"):
        save_model(model, tmp_path / "n", signature=frame)


@pytest.mark.parametrize(
    ("function", "name"), [(_double, f"{__name__}._double"), (np.log1p, "numpy.log1p")]
)
def test_your_own_function_or_a_numpy_ufunc_is_accepted_with_trust(
    function: Any, name: str, tmp_path: Path
) -> None:
    X, y = np.abs(np.random.default_rng(0).normal(size=(40, 2))), np.arange(40) % 2
    frame = pd.DataFrame(X, columns=["a", "b"])
    model = make_pipeline(FunctionTransformer(function), LogisticRegression()).fit(frame, y)
    manifest = save_model(model, tmp_path / "m", signature=frame, flavor="trusted", trusted=True)
    assert manifest.meta["trusted_types"] == [name]
    loaded = load_model(tmp_path / "m", trusted=True)
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
