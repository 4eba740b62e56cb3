"""Dataset-cartography coordinates of each sample (Swayamdipta et al. 2020).

S. Swayamdipta, R. Schwartz, N. Lourie, Y. Wang, H. Hajishirzi, N. A. Smith, Y. Choi,
"Dataset Cartography: Mapping and Diagnosing Datasets with Training Dynamics", EMNLP 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.dynamics._kernels import _correctness_fraction, _label_kernel
from reprdynamics.analysis.dynamics._parsing import _parse_kind, _parse_labels, _parse_outputs


@dataclass(frozen=True, eq=False)
class Cartography:
    """Dataset-cartography coordinates of each sample (Swayamdipta et al. 2020).

    Attributes
    ----------
    confidence : ndarray of shape (N,)
        ``mean_t p_t(gold)``; NaN where the label is unknown.
    variability : ndarray of shape (N,)
        Population standard deviation (ddof=0) of ``p_t(gold)`` over snapshots; in [0, 0.5].
    correctness : ndarray of shape (N,)
        Fraction of snapshots with ``ŷ_t = gold``.
    """

    confidence: NDArray[np.float64]
    variability: NDArray[np.float64]
    correctness: NDArray[np.float64]


def cartography(
    outputs: ArrayLike,
    labels: ArrayLike | None,
    *,
    kind: Literal["logits", "probabilities"] = "logits",
) -> Cartography:
    """Dataset-cartography coordinates (Swayamdipta et al. 2020, "Dataset Cartography").

    With ``p_t(gold)`` the probability of the gold class at snapshot t:

    * confidence ``μ_i = (1/T) Σ_t p_t(gold_i)``;
    * variability ``σ_i = sqrt((1/T) Σ_t (p_t(gold_i) − μ_i)^2)`` (population std, ddof=0);
    * correctness ``= (1/T) #{t : ŷ_t(i) = gold_i}``, ``ŷ = argmax`` (ties → smallest index).

    Samples with label ``-1`` get NaN in all three.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C)
    labels : array-like of int, shape (N,)
    kind : {"logits", "probabilities"}

    Raises
    ------
    LabelsRequiredError
        If ``labels`` is None.

    Examples
    --------
    >>> c = cartography([[[2.0, 0.0]], [[0.0, 2.0]]], [0])
    >>> round(float(c.confidence[0]), 6), float(c.correctness[0])
    (0.5, 0.5)
    """
    kind = _parse_kind(kind, "cartography")
    values = _parse_outputs(outputs, "cartography", kind)
    labels_ = _parse_labels(labels, "cartography", values.shape[1], values.shape[2])
    stats = _label_kernel(values, kind, labels_)
    known = labels_ >= 0
    return Cartography(
        confidence=stats.gold_probability.mean(axis=0),
        variability=stats.gold_probability.std(axis=0),
        correctness=_correctness_fraction(stats.correct.sum(axis=0), values.shape[0], known),
    )
