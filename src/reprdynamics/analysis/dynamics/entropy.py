"""Softmax and the entropy of each snapshot's predicted class distribution."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.dynamics._kernels import _entropy_kernel, _softmax
from reprdynamics.analysis.dynamics._parsing import _parse_kind, _parse_outputs
from reprdynamics.errors import invalid_parameter


def softmax(logits: ArrayLike) -> NDArray[np.float64]:
    """Numerically stable softmax over the last axis: ``p_c = e^{z_c − max z} / Σ e^{z − max z}``.

    Examples
    --------
    >>> softmax([[0.0, 0.0]]).tolist()
    [[0.5, 0.5]]
    """
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim == 0:
        expected = "an array with classes on the last axis"
        raise invalid_parameter("logits", "softmax", expected, values)
    return _softmax(values.copy())


def prediction_entropy(
    outputs: ArrayLike, *, kind: Literal["logits", "probabilities"] = "logits"
) -> NDArray[np.float64]:
    """Entropy of the predicted class distribution of every sample at every snapshot.

    ``H_t(i) = −Σ_c p_t(c|i) log p_t(c|i)`` (natural log, ``0 · log 0 = 0``), with
    ``p = softmax(z)`` for logits (computed stably as ``log Σ e^s − Σ p s``, ``s = z − max z``)
    and ``p`` as given for probabilities. This is the original ReprDynamics' "confidence"
    axis. Values lie in ``[0, log C]``.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C) or (N, C)
        Logits or probabilities.
    kind : {"logits", "probabilities"}

    Returns
    -------
    ndarray of float64, shape (T, N) or (N,)

    Examples
    --------
    >>> prediction_entropy([[[0.0, 0.0], [50.0, 0.0]]]).round(4).tolist()
    [[0.6931, 0.0]]
    """
    kind = _parse_kind(kind, "prediction_entropy")
    values = _parse_outputs(outputs, "prediction_entropy", kind, ndims=(3, 2))
    return _entropy_kernel(values, kind)
