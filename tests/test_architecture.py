"""The layers of DESIGN.md, enforced: a wrong import arrow fails CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import modelcycle

ROOT = Path(__file__).parent.parent


def test_imports_point_down_the_layers() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is part of the test extra"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_public_name_is_exported() -> None:
    for name in modelcycle.__all__:
        assert hasattr(modelcycle, name), name
    assert (Path(modelcycle.__file__).parent / "py.typed").exists()
