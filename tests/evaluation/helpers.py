"""Seeded synthetic holdouts for the evaluation tests."""

from __future__ import annotations

import numpy as np


def binary_case(seed: int, n: int, *, decimals: int | None = None) -> tuple[np.ndarray, ...]:
    """Seeded labels and informative probabilities (rounded to force ties when asked)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    proba = np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)
    return y, proba if decimals is None else np.round(proba, decimals)


def multiclass_case(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded class codes and probabilities leaning towards the true class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n) + 0.8 * np.eye(k)[y]
    return y, proba / proba.sum(axis=1, keepdims=True)


def regression_case(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded targets (offset, to test conditioning) and noisy predictions."""
    rng = np.random.default_rng(seed)
    y = 1000.0 + rng.normal(size=n)
    return y, y + rng.normal(scale=0.5, size=n)
