"""One order for class scores everywhere: highest score first, an exact tie to the lower class id.

That is numpy's ``argmax`` rule, used by the predictors' top-k, the int8 rule and the benches alike. int8 models
requantize their logits to 8 bits, so two classes often get the very same score (chelsea.png: tiger cat and Egyptian
cat at 11.003 each, 2026-12-07). An unstable sort then ranks the tie differently in different code paths, and one CPU
seemed to disagree with another on identical logits. A stable sort makes a tie rank the same everywhere.
"""

from __future__ import annotations

import numpy as np


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best entries along the last axis, best first, ties to the lower index."""
    k = max(1, min(k, scores.shape[-1]))
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]
