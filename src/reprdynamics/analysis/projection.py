"""Projection over time: one 2-D PCA for all snapshots, so trajectories are comparable.

A PCA fitted on each snapshot separately would give each its own axes (and signs), so a sample
could jump across the plot without moving in representation space. Here the PCA is fitted
once, on rows drawn from all snapshots stacked into a ``(T·N, D)`` matrix, and the same linear
map is applied to every snapshot; a point that is the same in two snapshots lands at the
same position in both.

Fitting streams: snapshots arrive one ``(N, D)`` array at a time and a uniform random subsample
of at most ``max_fit_rows`` rows of the stacked matrix is kept (bottom-k sampling: each row gets
a uniform random key and the rows with the ``max_fit_rows`` smallest keys are kept), so memory is
``O(max_fit_rows · D)`` whatever T and N are. The mean is accumulated exactly over every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import Described, describe_array
from reprdynamics.errors import NotEnoughSnapshotsError, invalid_parameter
from reprdynamics.validation import Integer, OrNone, validate_params

__all__ = ["DEFAULT_MAX_FIT_ROWS", "Projection", "fit_projection", "project_over_time"]

#: Default number of rows the PCA is fitted on: enough for stable leading components, and at
#: most 20,000 × D × 4 bytes of memory (80 MB for D = 1024 float32 features).
DEFAULT_MAX_FIT_ROWS = 20_000


def _parse_rows(rows: ArrayLike, owner: str, name: str, n_features: int | None) -> np.ndarray:
    """One snapshot as a finite real (N, D) array (its own float dtype kept)."""
    array = np.asarray(rows)
    real = array.dtype != np.bool_ and (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    )
    if not real or array.ndim != 2:
        raise invalid_parameter(name, owner, "real-valued (N, D) snapshots", describe_array(array))
    if n_features is not None and array.shape[1] != n_features:
        raise invalid_parameter(
            name, owner, f"snapshots of D={n_features} features", describe_array(array)
        )
    if not np.isfinite(array).all():
        raise invalid_parameter(
            name, owner, "finite", Described("a snapshot with NaN or infinite values")
        )
    return array


def _iter_snapshots(snapshots: Any, owner: str) -> Iterator[Any]:
    """Snapshots one at a time from an array (T, N, D) or (N, D), or an iterable of (N, D)."""
    ndim = getattr(snapshots, "ndim", None)
    if ndim is not None and hasattr(snapshots, "shape") and hasattr(snapshots, "__getitem__"):
        # ndarray or a lazy array (zarr, dask): index one snapshot at a time.
        if ndim == 3:
            return (snapshots[t] for t in range(snapshots.shape[0]))
        if ndim == 2:
            return iter([snapshots])
        raise invalid_parameter(
            "snapshots",
            owner,
            "a (T, N, D) or (N, D) array, or an iterable of (N, D) arrays",
            describe_array(np.asarray(snapshots)),
        )
    if isinstance(snapshots, str | bytes) or not isinstance(snapshots, Iterable):
        raise invalid_parameter(
            "snapshots",
            owner,
            "a (T, N, D) or (N, D) array, or an iterable of (N, D) arrays",
            snapshots,
        )
    return iter(snapshots)


def _principal_axes(
    centred: NDArray[np.float64], n_components: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Leading right singular vectors (k, D) of ``centred`` and their squared singular values."""
    n_rows, n_features = centred.shape
    if n_features <= n_rows:
        # Eigen-decomposition of the D×D scatter matrix: m·D² work instead of SVD's ~4·m·D².
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(eigenvalues, kind="stable")[::-1][:n_components]
        squared = np.clip(eigenvalues[order], 0.0, None)
        return eigenvectors[:, order].T.copy(), squared
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    return right[:n_components].copy(), singular[:n_components] ** 2


def _fix_signs(components: NDArray[np.float64]) -> NDArray[np.float64]:
    """Make the largest-|value| loading of every component positive (first one on ties)."""
    rows = np.arange(components.shape[0])
    pivot = components[rows, np.argmax(np.abs(components), axis=1)]
    return components * np.where(pivot < 0.0, -1.0, 1.0)[:, None]


@dataclass(frozen=True, eq=False)
class Projection:
    """A PCA fitted on rows of all snapshots, applied identically to each of them.

    Attributes
    ----------
    mean_ : ndarray of shape (D,)
        Mean of every row of every snapshot seen while fitting.
    components_ : ndarray of shape (n_components, D)
        Orthonormal principal axes, in decreasing order of variance. Sign convention: the
        loading of largest absolute value of each axis is positive.
    explained_variance_ : ndarray of shape (n_components,)
        Variance of the fitted rows along each axis (``s² / (m − 1)``).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the fitted rows' total variance along each axis; each in [0, 1], summing
        to at most 1 (0 when the data has no variance).
    n_samples_seen_ : int
        Rows seen in total (Σ_t N_t).
    n_fit_rows_ : int
        Rows the axes were computed from (``min(n_samples_seen_, max_fit_rows)``).
    """

    mean_: NDArray[np.float64]
    components_: NDArray[np.float64]
    explained_variance_: NDArray[np.float64]
    explained_variance_ratio_: NDArray[np.float64]
    n_samples_seen_: int
    n_fit_rows_: int

    @property
    def n_components(self) -> int:
        """Number of output dimensions."""
        return int(self.components_.shape[0])

    @property
    def n_features(self) -> int:
        """Number of input dimensions D."""
        return int(self.components_.shape[1])

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Coordinates ``(X − mean_) @ components_.T`` of rows of X.

        Parameters
        ----------
        X : array-like of shape (..., D)
            One snapshot (N, D), all snapshots (T, N, D), or a single row (D,).

        Returns
        -------
        ndarray of float64, shape (..., n_components)
        """
        array = np.asarray(X)
        real = array.dtype != np.bool_ and (
            np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
        )
        if not real or array.ndim == 0 or array.shape[-1] != self.n_features:
            raise invalid_parameter(
                "X",
                "Projection.transform",
                f"a real array of shape (..., D={self.n_features})",
                describe_array(array),
            )
        if not np.isfinite(array).all():
            raise invalid_parameter(
                "X", "Projection.transform", "finite", Described("NaN or infinite values")
            )
        centred = array.astype(np.float64) - self.mean_
        return centred @ self.components_.T


class _BottomKSample:
    """Uniform sample without replacement of at most ``capacity`` rows from a stream.

    Each row gets an independent uniform key; the rows with the ``capacity`` smallest keys
    seen so far are kept, which is a uniform sample of every row seen (bottom-k sampling).
    """

    def __init__(self, capacity: int | None, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.rng = rng
        self.rows: np.ndarray | None = None
        self.keys: NDArray[np.float64] = np.empty(0)
        self.chunks: list[np.ndarray] = []  # used when capacity is None (keep everything)
        self.n_kept = 0

    def add(self, batch: np.ndarray) -> None:
        if self.capacity is None:
            self.chunks.append(batch)
            self.n_kept += batch.shape[0]
            return
        keys = self.rng.random(batch.shape[0])
        if self.rows is None:
            dtype = np.result_type(batch.dtype, np.float32)
            self.rows = np.empty((self.capacity, batch.shape[1]), dtype=dtype)
        free = self.capacity - self.n_kept
        if free > 0:  # fill empty slots first
            take = min(free, batch.shape[0])
            self.rows[self.n_kept : self.n_kept + take] = batch[:take]
            self.keys = np.concatenate([self.keys, keys[:take]])
            self.n_kept += take
            batch, keys = batch[take:], keys[take:]
            if batch.shape[0] == 0:
                return
        # Full: keep the `capacity` smallest keys among kept rows and the remaining batch rows.
        all_keys = np.concatenate([self.keys, keys])
        keep = np.argpartition(all_keys, self.capacity - 1)[: self.capacity]
        incoming = np.sort(keep[keep >= self.capacity]) - self.capacity
        kept = np.zeros(self.capacity, dtype=bool)
        kept[keep[keep < self.capacity]] = True
        evicted = np.flatnonzero(~kept)
        self.rows[evicted] = batch[incoming]
        self.keys[evicted] = keys[incoming]

    def sample(self) -> np.ndarray:
        if self.capacity is None:
            return np.concatenate(self.chunks) if self.chunks else np.empty((0, 0))
        assert self.rows is not None
        return self.rows[: self.n_kept]


@validate_params(
    n_components=Integer(low=1), max_fit_rows=OrNone(Integer(low=1)), seed=Integer(low=0)
)
def fit_projection(
    snapshots: ArrayLike | Iterable[ArrayLike],
    n_components: int = 2,
    *,
    max_fit_rows: int | None = DEFAULT_MAX_FIT_ROWS,
    seed: int = 0,
) -> Projection:
    """Fit one PCA on all snapshots (subsampled if large), for :func:`project_over_time`.

    With rows ``x`` of the stacked snapshots ``X = [X_0; …; X_{T−1}]`` (``T·N × D``), the
    mean ``μ`` is that of all rows, and the axes are the leading right singular vectors of
    ``S − μ``, ``S`` being a uniform random sample (without replacement) of at most
    ``max_fit_rows`` rows of ``X`` (Pearson 1901; Jolliffe, "Principal Component Analysis").
    Snapshots are read one at a time, so memory stays ``O(max_fit_rows · D)``.

    Parameters
    ----------
    snapshots : array-like (T, N, D) or (N, D), or iterable of (N_t, D) arrays
        An ndarray or lazy array (zarr, dask) is read one snapshot ``snapshots[t]`` at a time;
        an iterable (e.g. a generator over a run) is consumed once.
    n_components : int, default 2
        Number of axes, in ``[1, D]``.
    max_fit_rows : int or None, default 20,000
        Most rows the axes are computed from; None uses every row (memory ``T·N·D``).
    seed : int, default 0
        Seed of the subsample; the same seed and snapshots give the same projection.

    Returns
    -------
    Projection

    Raises
    ------
    NotEnoughSnapshotsError
        When the snapshots hold no row.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3, 200, 5)) * [10.0, 1.0, 1.0, 1.0, 0.1]
    >>> p = fit_projection(X)
    >>> np.round(np.abs(p.components_[0]), 1).tolist()
    [1.0, 0.0, 0.0, 0.0, 0.0]
    """
    owner = "fit_projection"
    sampler = _BottomKSample(max_fit_rows, np.random.default_rng(seed))
    total = None
    n_seen = 0
    n_features: int | None = None
    for snapshot in _iter_snapshots(snapshots, owner):
        rows = _parse_rows(snapshot, owner, "snapshots", n_features)
        n_features = rows.shape[1]
        if total is None:
            total = np.zeros(n_features)
        total += rows.sum(axis=0, dtype=np.float64)
        n_seen += rows.shape[0]
        if rows.shape[0]:
            sampler.add(rows)
    if n_seen == 0 or total is None or n_features is None:
        raise NotEnoughSnapshotsError(f"{owner} needs at least one row; the snapshots hold none.")
    sample = sampler.sample()
    n_rows = sample.shape[0]
    if n_components > min(n_features, n_rows):
        raise invalid_parameter(
            "n_components",
            owner,
            f"an int in [1, {min(n_features, n_rows)}] (D={n_features}, {n_rows} fitted rows)",
            n_components,
        )

    mean = total / n_seen
    centred = sample.astype(np.float64) - mean
    components, squared = _principal_axes(centred, int(n_components))
    total_variance = float(np.einsum("ij,ij->", centred, centred))
    ratio = squared / total_variance if total_variance > 0.0 else np.zeros_like(squared)
    return Projection(
        mean_=mean,
        components_=_fix_signs(components),
        explained_variance_=squared / max(n_rows - 1, 1),
        explained_variance_ratio_=np.clip(ratio, 0.0, 1.0),
        n_samples_seen_=n_seen,
        n_fit_rows_=n_rows,
    )


def project_over_time(
    snapshots: ArrayLike | Sequence[ArrayLike] | Iterable[ArrayLike],
    projection: Projection | None = None,
    *,
    n_components: int = 2,
    max_fit_rows: int | None = DEFAULT_MAX_FIT_ROWS,
    seed: int = 0,
) -> NDArray[np.float32]:
    """Positions of every sample at every snapshot under one shared projection.

    ``Y[t] = (X_t − μ) W^T`` with ``μ, W`` from :func:`fit_projection` (fitted here on the
    same snapshots unless ``projection`` is given), so the positions of a sample over ``t`` form
    a trajectory in one coordinate system.

    Parameters
    ----------
    snapshots : array-like (T, N, D), sequence of (N, D) arrays, or iterable of them
        All snapshots must hold the same N samples. A one-shot iterator (a generator) can be
        read only once, so it needs ``projection``.
    projection : Projection, optional
        A fitted projection; fitted on ``snapshots`` when omitted.
    n_components, max_fit_rows, seed
        Passed to :func:`fit_projection` when ``projection`` is omitted.

    Returns
    -------
    ndarray of float32, shape (T, N, n_components)

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(4, 10, 3))
    >>> project_over_time(X).shape
    (4, 10, 2)
    """
    owner = "project_over_time"
    if projection is None:
        if isinstance(snapshots, Iterator):
            raise invalid_parameter(
                "snapshots",
                owner,
                "an array or a sequence (readable twice) when 'projection' is not given",
                Described(f"a one-shot {type(snapshots).__name__}"),
            )
        projection = fit_projection(snapshots, n_components, max_fit_rows=max_fit_rows, seed=seed)
    elif not isinstance(projection, Projection):
        raise invalid_parameter("projection", owner, "a Projection or None", projection)
    positions: list[NDArray[np.float32]] = []
    for snapshot in _iter_snapshots(snapshots, owner):
        rows = _parse_rows(snapshot, owner, "snapshots", projection.n_features)
        if positions and rows.shape[0] != positions[0].shape[0]:
            raise invalid_parameter(
                "snapshots",
                owner,
                f"snapshots of the same N={positions[0].shape[0]} samples",
                describe_array(rows),
            )
        positions.append(projection.transform(rows).astype(np.float32))
    if not positions:
        raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; got none.")
    return np.stack(positions)
