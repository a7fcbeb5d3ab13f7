"""The table of tasks: what a model does, and what it takes as input. Stdlib only.

Code that behaves differently per task asks this table (``get_task(manifest.task).takes``), never the task's
spelling. A task's predictor base class is ``ImageClassifier`` for ``takes="image"`` and ``TabularPredictor`` for
``takes="features"`` (``edge_infer.predictor.task_base``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge_infer.registry import Registry

InputKind = Literal["image", "features"]


@dataclass(frozen=True, kw_only=True)
class TaskInfo:
    """One task: its name (as written in manifests), its input kind, whether it predicts classes, and a description."""

    name: str
    takes: InputKind
    classes: bool
    description: str

    @property
    def tabular(self) -> bool:
        """Takes feature rows (a scikit-learn style model), not images."""
        return self.takes == "features"


IMAGE_CLASSIFICATION = "image-classification"
TABULAR_CLASSIFICATION = "tabular-classification"
TABULAR_REGRESSION = "tabular-regression"

TASKS: Registry[str, TaskInfo] = Registry("task")
for _task in (
    TaskInfo(name=IMAGE_CLASSIFICATION, takes="image", classes=True,
             description="an image in, class scores out (top-k labels)"),
    TaskInfo(name=TABULAR_CLASSIFICATION, takes="features", classes=True,
             description="a row of numeric features in, a class and its probabilities out"),
    TaskInfo(name=TABULAR_REGRESSION, takes="features", classes=False,
             description="a row of numeric features in, one number out"),
):  # fmt: skip
    TASKS.register(_task.name, _task)


def get_task(name: str) -> TaskInfo:
    """The task called ``name``; an unknown name lists the valid ones."""
    return TASKS[name]
