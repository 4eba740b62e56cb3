"""Diagonal and vertical line-length histograms of a recurrence matrix (Marwan et al. 2007)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.recurrence._parsing import _parse_int, _parse_recurrence


def _run_length_counts(rows: NDArray[np.bool_], max_length: int) -> NDArray[np.int64]:
    """Histogram ``P[l]`` (l = 0..max_length) of runs of True along the last axis."""
    padded = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int8)
    padded[:, :-1] = rows
    # A leading 0 plus one trailing 0 per row keeps runs from joining across rows.
    edges = np.diff(np.concatenate(([0], padded.ravel())))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return np.bincount(lengths, minlength=max_length + 1).astype(np.int64)


def _diagonal_counts(R: NDArray[np.bool_], theiler: int) -> NDArray[np.int64]:
    n = R.shape[0]
    offsets = [k for k in range(-(n - 1), n) if abs(k) >= theiler]
    if not offsets:
        return np.zeros(n + 1, dtype=np.int64)
    # Diagonals joined end to end, each closed by a False separator, then counted in one pass.
    pieces: list[NDArray[np.bool_]] = []
    separator = np.zeros(1, dtype=np.bool_)
    for k in offsets:
        pieces.append(np.diagonal(R, k))
        pieces.append(separator)
    return _run_length_counts(np.concatenate(pieces)[np.newaxis, :], n)


def _outside_window(R: NDArray[np.bool_], theiler: int) -> NDArray[np.bool_]:
    if theiler == 0:
        return R
    return np.triu(R, theiler) | np.tril(R, -theiler)


def _vertical_counts(R: NDArray[np.bool_], theiler: int) -> NDArray[np.int64]:
    return _run_length_counts(_outside_window(R, theiler).T, R.shape[0])


def _window_size(n: int, theiler: int) -> int:
    """Number of points with ``|i - j| < theiler`` in an n×n matrix."""
    m = min(theiler, n)
    return 0 if m == 0 else n + (m - 1) * (2 * n - m)


def diagonal_line_distribution(R: ArrayLike, *, theiler: int = 1) -> NDArray[np.int64]:
    r"""Histogram of diagonal line lengths of a recurrence matrix.

    A diagonal line of length ``l`` is a maximal run of ``l`` recurrence points
    ``R[i+m, j+m] = 1`` (m = 0..l-1) on one diagonal ``j - i = k``. Diagonals with
    ``|k| < theiler`` are skipped; both triangles are counted (Marwan et al. 2007, eq. 46).

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix (booleans or 0/1 values).
    theiler : int, default 1
        Theiler window: diagonals ``|j - i| < theiler`` are excluded. 1 excludes the line of
        identity, 0 keeps it.

    Returns
    -------
    ndarray of int64, shape (N + 1,)
        ``P[l]`` = number of diagonal lines of length exactly ``l`` (``P[0]`` is 0).

    Examples
    --------
    >>> R = np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool) | np.eye(3, k=-1, dtype=bool)
    >>> diagonal_line_distribution(R).tolist()
    [0, 0, 2, 0]
    """
    owner = "diagonal_line_distribution"
    recurrences = _parse_recurrence(R, "R", owner)
    return _diagonal_counts(recurrences, _parse_int(theiler, "theiler", owner, 0))


def vertical_line_distribution(R: ArrayLike, *, theiler: int = 1) -> NDArray[np.int64]:
    r"""Histogram of vertical line lengths of a recurrence matrix.

    A vertical line of length ``v`` is a maximal run of ``v`` recurrence points
    ``R[i+m, j] = 1`` (m = 0..v-1) in one column ``j`` (Marwan et al. 2007, eq. 49). Points
    inside the Theiler window ``|i - j| < theiler`` are removed first, so a vertical line
    crossing the window is cut there.

    Parameters
    ----------
    R : array_like of bool, shape (N, N)
        Recurrence matrix (booleans or 0/1 values).
    theiler : int, default 1
        Theiler window (see :func:`diagonal_line_distribution`).

    Returns
    -------
    ndarray of int64, shape (N + 1,)
        ``P[v]`` = number of vertical lines of length exactly ``v`` (``P[0]`` is 0).

    Examples
    --------
    >>> vertical_line_distribution(np.ones((3, 3), dtype=bool)).tolist()
    [0, 2, 2, 0]
    """
    owner = "vertical_line_distribution"
    recurrences = _parse_recurrence(R, "R", owner)
    return _vertical_counts(recurrences, _parse_int(theiler, "theiler", owner, 0))
