"""The skops allow-list is exact, closed and justified: classes only, each one needed by a
real model, and every such model loads through it with identical predictions (issue 11)."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, SplineTransformer

from modelcycle.core import IntegrityError
from modelcycle.learners import ALLOWED_TYPES, dump_skops, load_skops, read_skops_names
from modelcycle.learners._skops_types import ALLOWED_LOADERS
from tests.learners.skops_corpus import corpus


def _resolve(name: str) -> Any:
    """The object a dotted name denotes: the longest importable module, then attributes."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise AssertionError(f"{name} cannot be imported")


@pytest.mark.parametrize("name", sorted(ALLOWED_TYPES))
def test_every_allowed_name_is_a_class(name: str) -> None:
    found = _resolve(name)
    assert isinstance(found, type), f"{name} is a {type(found).__name__}, not a class"
    assert f"{found.__module__}.{found.__qualname__}" == name or name.startswith("numpy.")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any, Path]]:
    """Every corpus model fitted and dumped: name -> (model, inputs, file)."""
    folder = tmp_path_factory.mktemp("corpus")
    found = {}
    for index, (name, (model, X, y)) in enumerate(corpus().items()):
        with warnings.catch_warnings():  # deprecations and non-convergence on tiny data
            warnings.simplefilter("ignore")
            model.fit(X, y)
        path = folder / f"{index}.skops"
        dump_skops(model, path)
        found[name] = (model, X, path)
    return found


@pytest.mark.slow
def test_every_corpus_model_loads_with_identical_predictions(
    saved: dict[str, tuple[Any, Any, Path]],
) -> None:
    for name, (model, X, path) in saved.items():
        loaded = load_skops(path)
        expected, actual = model.predict(X), loaded.predict(X)
        assert np.array_equal(np.asarray(expected), np.asarray(actual)), name


@pytest.mark.slow
def test_every_allowed_name_and_loader_is_needed_by_a_corpus_model(
    saved: dict[str, tuple[Any, Any, Path]],
) -> None:
    names = {n for _, _, path in saved.values() for n in read_skops_names(path)}
    assert {n.name for n in names} == ALLOWED_TYPES
    assert {n.loader for n in names} == ALLOWED_LOADERS


@pytest.mark.parametrize(
    ("model", "function"),
    [
        (FunctionTransformer(np.log1p), "numpy.log1p"),
        (SelectKBest(k=2), "sklearn.feature_selection._univariate_selection.f_classif"),
        (SplineTransformer(), "scipy._lib.array_api_compat.numpy._aliases.asarray"),
    ],
    ids=["ufunc", "score-function", "spline"],
)
def test_a_model_holding_a_function_is_refused(model: Any, function: str, tmp_path: Path) -> None:
    """skops trusts NumPy ufuncs by default; the allow-list holds no function at all."""
    rng = np.random.default_rng(0)
    X, y = np.abs(rng.normal(size=(60, 3))), np.arange(60) % 2
    dump_skops(make_pipeline(model, LogisticRegression()).fit(X, y), tmp_path / "m.skops")
    refused = r"loaders outside the allow-list: \['FunctionNode'\]"
    with pytest.raises(IntegrityError, match=refused):
        load_skops(tmp_path / "m.skops")
    assert function in {n.name for n in read_skops_names(tmp_path / "m.skops")}
