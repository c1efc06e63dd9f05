"""modelcycle's own pipelines (preprocessing + learner ensemble), saved as JSON and model text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.packaging._pipeline import ModelPipeline
from modelcycle.packaging.flavors._base import Flavor, Predictor


class _PipelinePredictor(Predictor):
    def __init__(self, pipeline: ModelPipeline) -> None:
        self.pipeline = pipeline
        self.classes = tuple(pipeline.classes_) if pipeline.classes_ is not None else None

    @property
    def native(self) -> Any:
        return self.pipeline

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame)


class ModelcycleFlavor(Flavor):
    """A :class:`~modelcycle.packaging.ModelPipeline` made by ``modelcycle train``."""

    name = "modelcycle"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return isinstance(model, ModelPipeline)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        model.save(folder)
        return {"task": model.task.value, "members": len(model.members)}

    def load(self, folder: Path, meta: dict[str, Any]) -> Predictor:
        return _PipelinePredictor(ModelPipeline.load(folder))

    def signature_problems(self, model: Any, names: list[str]) -> list[str]:
        own = model.input_names
        missing = [n for n in own if n not in names]
        if missing:
            return [f"the pipeline reads columns {missing} that the signature does not have"]
        return []
