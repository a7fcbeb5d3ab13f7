"""The predictor hierarchy: one ``Predictor`` base, a base per task, a subclass per backend (see ``base``)."""

from __future__ import annotations

from edge_infer.predictors.base import Predictor
from edge_infer.predictors.image import DEFAULT_TOP_K, ImageClassifier, softmax
from edge_infer.predictors.tabular import TabularPredictor
from edge_infer.tasks import TaskInfo

# what a task takes -> the base class of its predictors (abstract classes: mypy wants a plain ``type`` here)
TASK_BASES: dict[str, type] = {"image": ImageClassifier, "features": TabularPredictor}


def task_base(task: TaskInfo) -> type[Predictor]:
    """The predictor base class of a task (by what it takes)."""
    base: type[Predictor] = TASK_BASES[task.takes]
    return base


__all__ = ["DEFAULT_TOP_K", "TASK_BASES", "ImageClassifier", "Predictor", "TabularPredictor", "softmax", "task_base"]
