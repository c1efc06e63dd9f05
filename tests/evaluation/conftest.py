"""Holdouts shared by the evaluation tests: real (breast cancer) and seeded synthetic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Holdout:
    """A fitted model's holdout: raw frame, targets, probabilities and the model."""

    frame: pd.DataFrame
    y: np.ndarray
    proba: np.ndarray
    model: Pipeline
    class_labels: tuple[str, ...]

    def predict_fn(self, values: np.ndarray) -> np.ndarray:
        """Positive-class probability for a float array shaped like ``frame``."""
        frame = pd.DataFrame(values, columns=self.frame.columns)
        return np.asarray(self.model.predict_proba(frame)[:, 1])


@pytest.fixture(scope="session")
def cancer() -> Holdout:
    """Breast cancer (569 rows, 30 numeric features), logistic regression, 40 % holdout."""
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.4, random_state=0, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x_train, y_train)
    proba = model.predict_proba(x_test)[:, 1]
    labels = tuple(str(name) for name in data.target_names)
    return Holdout(x_test.reset_index(drop=True), y_test.to_numpy(), proba, model, labels)
