"""Neighbour stability: how much of its neighbourhood each sample keeps over training."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.dynamics._parsing import _parse_overlaps


def neighbour_stability(overlaps: ArrayLike) -> NDArray[np.float64]:
    """Mean neighbour overlap of each sample over the snapshot transitions.

    ``stability_i = (1/(T−1)) Σ_{t=0}^{T−2} o_t(i)`` with
    ``o_t(i) = |N_k(i,t) ∩ N_k(i,t+1)| / k``, the neighbour overlap of the original ReprDynamics
    tool (:func:`~reprdynamics.analysis.fingerprints.neighbour_overlap`).
    1 means the sample kept its neighbourhood throughout; with no transition (T = 1) it is NaN.

    Parameters
    ----------
    overlaps : array-like of shape (T−1, N), values in [0, 1]

    Examples
    --------
    >>> neighbour_stability([[1.0, 0.0], [0.5, 0.0]]).tolist()
    [0.75, 0.0]
    """
    values = _parse_overlaps(overlaps, "neighbour_stability", ndim=2)
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    return values.mean(axis=0)
