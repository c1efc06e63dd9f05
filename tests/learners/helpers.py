"""Small tools shared by the learner tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def rehash(folder: Path) -> None:
    """Record the current SHA-256 of every listed file, as an attacker rewriting both would."""
    meta_path = folder / "learner.json"
    meta = json.loads(meta_path.read_text())
    meta["files"] = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in meta["files"]
    }
    meta_path.write_text(json.dumps(meta))


def easy_binary(n: int = 600, seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Rows whose class is the sign of the first of four features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > 0).astype(np.int64)
