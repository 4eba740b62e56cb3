"""Which class each sample moved to between two snapshots: the class-transition matrix
Δ(a, b) of the NNTF (Ferreira et al., J. Visualization 2022) for one pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reprdynamics.analysis.fingerprints import class_transition_matrix
from reprdynamics.storage.run import Run

__all__ = ["ClassTransitions", "class_transitions"]


@dataclass(frozen=True)
class ClassTransitions:
    """``matrix[c, c']``: samples predicted ``c`` at ``a`` and ``c'`` at ``b``; ``n`` of them
    were recorded at both, ``n_excluded`` were not (and are not counted)."""

    a: int
    b: int
    matrix: np.ndarray
    n_classes: int
    n: int
    n_excluded: int


def class_transitions(run: Run, a: int, b: int, ids: np.ndarray | None = None) -> ClassTransitions:
    """Δ(a, b) over ``ids`` (all samples if None).

    The classes are every class the run names, every output unit, and any class a
    prediction holds, so no sample falls outside the matrix.
    """
    pred_a = run.predictions(a, ids)
    pred_b = run.predictions(b, ids)
    recorded = (pred_a >= 0) & (pred_b >= 0)
    n_classes = max(run.n_classes or 0, run.layer_dim(run.output_layer))
    top = int(max(pred_a.max(initial=-1), pred_b.max(initial=-1))) + 1
    n_classes = max(n_classes, top)
    matrix = class_transition_matrix(pred_a[recorded], pred_b[recorded], n_classes)
    return ClassTransitions(a, b, matrix, n_classes, int(recorded.sum()), int((~recorded).sum()))
