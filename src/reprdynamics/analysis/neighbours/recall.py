"""Recall of approximate neighbour lists against the exact ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.analysis.fingerprints import neighbour_overlap


def neighbour_recall(approx_indices: Any, exact_indices: Any) -> float:
    """Recall of approximate neighbour lists: mean over rows of ``|A(i) ∩ E(i)| / k``.

    Parameters
    ----------
    approx_indices, exact_indices : array of int, shape (n, k)
        Neighbour ids per row from the approximate and the exact method (no repeated id
        within a row).

    Returns
    -------
    float
        In [0, 1]; 1 when every exact neighbour was found.

    Examples
    --------
    >>> neighbour_recall([[1, 2], [0, 3]], [[2, 1], [0, 2]])
    0.75
    """
    return float(np.mean(neighbour_overlap(approx_indices, exact_indices)))
