"""Ensemble selection (Caruana et al., 2004) over out-of-fold predictions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Loss = Callable[[NDArray[np.float64], NDArray[np.float64]], float]


def select_ensemble(
    predictions: Sequence[NDArray[np.float64]],
    y: NDArray[np.float64],
    loss: Loss,
    *,
    rounds: int = 25,
) -> tuple[dict[int, float], float]:
    """Greedy forward selection with replacement; return ``({index: weight}, loss)``.

    Each round adds the candidate whose inclusion lowers the blended loss most and
    stops when no candidate helps. Weights are the selection counts, normalised.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0])
    >>> mse = lambda t, p: float(np.mean((t - p) ** 2))
    >>> weights, _ = select_ensemble([y + 1, y - 1, y + 5], y, mse)
    >>> weights
    {0: 0.5, 1: 0.5}
    """
    counts: Counter[int] = Counter()
    blend: NDArray[np.float64] | None = None
    best_loss = np.inf
    for size in range(rounds):
        choice, choice_loss, choice_blend = -1, best_loss, blend
        for index, candidate in enumerate(predictions):
            mixed = candidate if blend is None else (blend * size + candidate) / (size + 1)
            value = loss(y, mixed)
            if value < choice_loss - 1e-12:
                choice, choice_loss, choice_blend = index, value, mixed
        if choice < 0:
            break
        counts[choice] += 1
        blend, best_loss = choice_blend, choice_loss
    total = sum(counts.values())
    return {index: count / total for index, count in sorted(counts.items())}, float(best_loss)
