"""The raw prediction-disagreement matrix between snapshots."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints._parsing import _as_predictions
from reprdynamics.errors import invalid_parameter


def prediction_disagreement(predictions: Any) -> np.ndarray:
    """Raw prediction-disagreement matrix: ``D[a, b]`` = fraction of samples with ŷ_a ≠ ŷ_b.

    The NNTF code's raw comparison of snapshots (Ferreira et al., J. Visualization 2022).

    Parameters
    ----------
    predictions : array of int, shape (T, n)
        Predicted class of every sample at every snapshot (T >= 1, n >= 1).

    Returns
    -------
    ndarray of float64, shape (T, T)
        Symmetric, zero diagonal, values in [0, 1]; a metric (Hamming distance / n).

    Examples
    --------
    >>> prediction_disagreement([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 1, 0]]).tolist()
    [[0.0, 0.25, 0.75], [0.25, 0.0, 0.5], [0.75, 0.5, 0.0]]
    """
    owner = "prediction_disagreement"
    pred = _as_predictions(predictions, owner)
    if pred.shape[0] < 1 or pred.shape[1] < 1:
        raise invalid_parameter(
            "predictions",
            owner,
            "at least one snapshot and one sample",
            f"an array of shape {pred.shape}",
        )
    m, n = pred.shape
    out = np.zeros((m, m), dtype=np.float64)
    for a in range(m - 1):
        out[a, a + 1 :] = np.count_nonzero(pred[a + 1 :] != pred[a], axis=1) / n
    return out + out.T
