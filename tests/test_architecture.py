"""The layers of docs/architecture.md, enforced: a wrong import arrow fails CI."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import modelcycle

ROOT = Path(__file__).parent.parent


def test_imports_point_down_the_layers() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is part of the test extra"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    return [part.strip() for line in contract["layers"] for part in line.split("|")]


def test_the_layer_contract_names_exactly_the_packages_that_exist() -> None:
    """A package the contract does not name could import anything; one it names that
    does not exist hides a mistake."""
    source = Path(modelcycle.__file__).parent
    packages = {f"modelcycle.{p.name}" for p in source.iterdir() if (p / "__init__.py").is_file()}
    named = _layers()
    assert len(named) == len(set(named)), "a package is named twice"
    assert set(named) == packages
    assert not any(name.startswith("(") for name in named), "no optional packages"


PUBLIC_API = ROOT / "tests" / "public_api.txt"


def public_api() -> str:
    """Every package's ``__all__``, one ``package: name`` per line."""
    lines = [f"modelcycle: {name}" for name in sorted(modelcycle.__all__)]
    for name in sorted(_layers()):
        package = importlib.import_module(name)
        exported = getattr(package, "__all__", [])
        lines += [f"{name}: {item}" for item in sorted(exported)]
    return "\n".join(lines) + "\n"


def test_the_public_api_is_reviewed() -> None:
    """An addition to a package's ``__all__`` must be added to tests/public_api.txt too.

    Regenerate with ``python -c "from tests.test_architecture import public_api;
    print(public_api(), end='')" > tests/public_api.txt`` and review the diff.
    """
    assert PUBLIC_API.read_text() == public_api()


def test_every_exported_name_exists() -> None:
    for name in ["modelcycle", *_layers()]:
        package = importlib.import_module(name)
        for item in getattr(package, "__all__", []):
            assert hasattr(package, item), f"{name}.__all__ names {item!r}, which it lacks"
    assert (Path(modelcycle.__file__).parent / "py.typed").exists()


def test_importing_automl_leaves_optuna_logging_alone() -> None:
    code = (
        "import optuna; optuna.logging.set_verbosity(optuna.logging.DEBUG); "
        "import modelcycle.automl; print(optuna.logging.get_verbosity())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "10"
