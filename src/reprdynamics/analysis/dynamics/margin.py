"""Area under the margin of each sample (Pleiss et al. 2020).

G. Pleiss, T. Zhang, E. Elenberg, K. Q. Weinberger, "Identifying Mislabeled Data using the
Area Under the Margin Ranking", NeurIPS 2020.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.dynamics._kernels import _label_kernel
from reprdynamics.analysis.dynamics._parsing import _parse_kind, _parse_labels, _parse_outputs


def area_under_margin(
    outputs: ArrayLike,
    labels: ArrayLike | None,
    *,
    kind: Literal["logits", "probabilities"] = "logits",
) -> NDArray[np.float64]:
    """Area under the margin (Pleiss et al. 2020, "Identifying Mislabeled Data using the Area
    Under the Margin Ranking").

    ``AUM_i = (1/T) Σ_t (z_t(gold_i) − max_{c ≠ gold_i} z_t(c))`` on logits ``z``. Positive:
    the model favours the gold class on average; negative: it favours another class, a sign
    of a mislabelled sample.

    For ``kind="probabilities"`` the margin is taken on ``log p``. Since
    ``log softmax(z) = z − log Σ e^z`` differs from ``z`` by a per-sample constant, this equals
    the logit AUM whenever ``p`` is a softmax; probabilities of exactly 0 are clipped to the
    smallest positive float64 (log ≈ −708).

    Parameters
    ----------
    outputs : array-like of shape (T, N, C)
    labels : array-like of int, shape (N,)
    kind : {"logits", "probabilities"}

    Returns
    -------
    ndarray of float64, shape (N,)
        NaN where the label is unknown.

    Examples
    --------
    >>> area_under_margin([[[3.0, 1.0]], [[0.0, 1.0]]], [0]).tolist()
    [0.5]
    """
    kind = _parse_kind(kind, "area_under_margin")
    values = _parse_outputs(outputs, "area_under_margin", kind)
    labels_ = _parse_labels(labels, "area_under_margin", values.shape[1], values.shape[2])
    return _label_kernel(values, kind, labels_).margin.mean(axis=0)
