"""Representation similarity between snapshots: linear CKA and its fingerprint.

Linear centred kernel alignment (Kornblith et al., "Similarity of neural network
representations revisited", ICML 2019), with the debiased variant built on the unbiased
HSIC estimator of Song et al., "Feature selection via dependence maximization" (JMLR 2012),
as used by Nguyen et al., "Do wide and deep networks learn the same things?" (ICLR 2021).

Everything is computed in float64 from feature-space quantities when that is cheaper
(``D_x D_y <= n^2``), else from n x n Gram matrices; both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from reprdynamics.errors import invalid_parameter
from reprdynamics.validation import Integer, validate_params

__all__ = ["cka_fingerprint", "linear_cka", "linear_cka_matrix"]

_DEFAULT_MAX_BYTES = 2**30


@dataclass(frozen=True, eq=False)
class _Centred:
    """One representation prepared for CKA: centred rows and the terms reused per pair."""

    x: np.ndarray  # (n, D) float64, column means 0
    gram: np.ndarray | None  # (n, n) X X^T, kept when D > n (then smaller than X itself)
    row_sq: np.ndarray  # (n,) ||x_i||^2
    total_sq: float  # ||X||_F^2
    self_cross: float  # ||X^T X||_F^2


def _as_representation(X: Any, name: str, owner: str) -> np.ndarray:
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter(name, owner, "a 2-D numeric array", type(X).__name__) from exc
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise invalid_parameter(
            name, owner, "a 2-D array (n_samples, n_features)", f"an array of shape {arr.shape}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise invalid_parameter(name, owner, "a real numeric array", f"dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise invalid_parameter(name, owner, "finite (no NaN or inf)", "non-finite values")
    return arr


def _cross(a: _Centred, b: _Centred) -> float:
    """``||Y^T X||_F^2 = <X X^T, Y Y^T>_F``, by whichever side is cheaper."""
    n = a.x.shape[0]
    if a.gram is not None and b.gram is not None:
        return float(np.einsum("ij,ij->", a.gram, b.gram))
    if a.x.shape[1] * b.x.shape[1] <= n * n:
        m = a.x.T @ b.x
        return float(np.einsum("ij,ij->", m, m))
    gram_a = a.x @ a.x.T if a.gram is None else a.gram
    gram_b = b.x @ b.x.T if b.gram is None else b.gram
    return float(np.einsum("ij,ij->", gram_a, gram_b))


def _centre(X: np.ndarray, self_cross: float | None = None) -> _Centred:
    x = X - X.mean(axis=0)
    row_sq = np.einsum("ij,ij->i", x, x)
    gram = x @ x.T if x.shape[1] > x.shape[0] else None
    prepared = _Centred(x=x, gram=gram, row_sq=row_sq, total_sq=float(row_sq.sum()), self_cross=0.0)
    if self_cross is None:
        self_cross = _cross(prepared, prepared)
    return replace(prepared, self_cross=self_cross)


def _hsic_terms(cross: float, a: _Centred, b: _Centred, debiased: bool) -> float:
    """HSIC up to a positive factor that cancels in CKA.

    Biased (Gretton et al. 2005) with centred features: ``||Y^T X||_F^2``.
    Unbiased (Song et al. 2012), times ``n (n - 3)``: with K~ the Gram matrix with its
    diagonal zeroed, ``tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1``. For
    centred features ``K 1 = 0``, so ``tr(K~ L~) = ||Y^T X||^2 - k.l``, ``1'K~1 = -||X||^2``
    and ``1'K~L~1 = k.l`` with ``k_i = ||x_i||^2``, giving
    ``||Y^T X||^2 - n/(n-2) k.l + ||X||^2 ||Y||^2 / ((n-1)(n-2))``: no n x n matrix needed.
    """
    if not debiased:
        return cross
    n = a.x.shape[0]
    return (
        cross
        - n / (n - 2.0) * float(a.row_sq @ b.row_sq)
        + a.total_sq * b.total_sq / ((n - 1.0) * (n - 2.0))
    )


def _cka(a: _Centred, b: _Centred, cross: float, debiased: bool) -> float:
    hxy = _hsic_terms(cross, a, b, debiased)
    hxx = _hsic_terms(a.self_cross, a, a, debiased)
    hyy = _hsic_terms(b.self_cross, b, b, debiased)
    if not (hxx > 0 and hyy > 0):
        return float("nan")
    return hxy / np.sqrt(hxx * hyy)


def _min_samples(debiased: bool) -> int:
    return 4 if debiased else 2


def linear_cka(X: Any, Y: Any, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same samples.

    ``CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` with the columns of X and Y
    centred (Kornblith et al. 2019, eq. for linear CKA). With ``debiased=True`` every HSIC
    is replaced by the unbiased estimator of Song et al. (2012), computed in feature space.

    Parameters
    ----------
    X : array_like, shape (n, D_x)
    Y : array_like, shape (n, D_y)
        Rows are the same n samples; widths may differ. Must be finite.
    debiased : bool, default False
        Use the unbiased HSIC estimator (needs n >= 4). Debiased CKA can be slightly
        negative for unrelated representations.

    Returns
    -------
    float
        In [0, 1] for the biased form; 1 for ``X`` against itself or any orthogonal map or
        isotropic scaling of it. NaN when a representation is constant (zero variance), or
        for debiased CKA when an unbiased self-HSIC is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(1337)
    >>> X = np.random.randn(100, 10)
    >>> Y = np.random.randn(100, 10) + X
    >>> round(linear_cka(X, Y), 5), round(linear_cka(X, Y, debiased=True), 5)
    (0.55761, 0.51346)
    """
    owner = "linear_cka"
    x = _as_representation(X, "X", owner)
    y = _as_representation(Y, "Y", owner)
    if y.shape[0] != x.shape[0]:
        raise invalid_parameter(
            "Y", owner, f"an array with {x.shape[0]} rows like X", f"an array of shape {y.shape}"
        )
    need = _min_samples(bool(debiased))
    if x.shape[0] < need:
        raise invalid_parameter(
            "X", owner, f"an array with at least {need} rows", f"an array of shape {x.shape}"
        )
    a, b = _centre(x), _centre(y)
    return float(_cka(a, b, _cross(a, b), bool(debiased)))


def _as_snapshot_sequence(snapshots: Any, owner: str) -> Sequence[Any]:
    if isinstance(snapshots, np.ndarray):
        if snapshots.ndim != 3:
            raise invalid_parameter(
                "snapshots",
                owner,
                "a (T, n, D) array or a sequence of (n, D) arrays",
                f"an array of shape {snapshots.shape}",
            )
        return snapshots
    if hasattr(snapshots, "__len__") and hasattr(snapshots, "__getitem__"):
        return snapshots
    if isinstance(snapshots, Iterable):
        return list(snapshots)
    raise invalid_parameter(
        "snapshots", owner, "a sequence of (n, D) arrays", type(snapshots).__name__
    )


@validate_params(max_bytes=Integer(low=1))
def linear_cka_matrix(
    snapshots: Any, *, debiased: bool = False, max_bytes: int = _DEFAULT_MAX_BYTES
) -> np.ndarray:
    """Linear CKA between every pair of snapshots, in bounded memory.

    Parameters
    ----------
    snapshots : array (T, n, D) or sequence of T arrays (n, D_t)
        A sequence may be lazy: anything with ``len`` and integer indexing that returns an
        array (a list, a Zarr array ``(T, n, D)``, a small class wrapping ``load(t)``). A
        plain iterator is read into a list first.
    debiased : bool, default False
        Debiased CKA (Song et al. unbiased HSIC).
    max_bytes : int, default 1 GiB
        Memory for centred snapshots held at once (float64). Snapshots are processed in
        blocks that fit: every block is loaded once and the snapshots after it are streamed
        past it, so with all of them fitting each is loaded once, and at worst (one per
        block) about ``T^2 / 2`` loads.

    Returns
    -------
    ndarray of float64, shape (T, T)
        Symmetric, ones on the diagonal (NaN for constant snapshots, see
        :func:`linear_cka`).

    Notes
    -----
    Cost: one ``D_a x D_b`` cross product per pair, ``O(T^2 n D^2)`` flops in float64
    (T=100, n=50,000, D=512 is about 1.3e14); for large runs compute it on a sample of
    the samples. When ``D > n`` each snapshot keeps its n x n Gram matrix instead and a
    pair costs ``O(n^2)``.
    """
    owner = "linear_cka_matrix"
    seq = _as_snapshot_sequence(snapshots, owner)
    n_snap = len(seq)
    if n_snap < 1:
        raise invalid_parameter("snapshots", owner, "at least one snapshot", "none")
    debiased = bool(debiased)
    self_cross: dict[int, float] = {}
    n_samples: list[int] = []

    def load(t: int) -> _Centred:
        x = _as_representation(seq[t], f"snapshots[{t}]", owner)
        if not n_samples:
            need = _min_samples(debiased)
            if x.shape[0] < need:
                raise invalid_parameter(
                    f"snapshots[{t}]",
                    owner,
                    f"an array with at least {need} rows",
                    f"an array of shape {x.shape}",
                )
            n_samples.append(x.shape[0])
        elif x.shape[0] != n_samples[0]:
            raise invalid_parameter(
                f"snapshots[{t}]",
                owner,
                f"an array with {n_samples[0]} rows like snapshots[0]",
                f"an array of shape {x.shape}",
            )
        prepared = _centre(x, self_cross.get(t))
        self_cross[t] = prepared.self_cross
        return prepared

    out = np.eye(n_snap, dtype=np.float64)
    first = load(0)
    per_snapshot = max(1, first.x.nbytes + (0 if first.gram is None else first.gram.nbytes))
    preloaded = {0: first}
    del first
    block = int(max(1, max_bytes // per_snapshot - 1))  # room for one streamed snapshot
    start = 0
    while start < n_snap:
        stop = min(n_snap, start + block)
        held = {t: preloaded.pop(t) if t in preloaded else load(t) for t in range(start, stop)}
        for a in range(start, stop):
            out[a, a] = _cka(held[a], held[a], held[a].self_cross, debiased)
            for b in range(a + 1, stop):
                out[a, b] = _cka(held[a], held[b], _cross(held[a], held[b]), debiased)
        for b in range(stop, n_snap):
            streamed = load(b)
            for a in range(start, stop):
                out[a, b] = _cka(held[a], streamed, _cross(held[a], streamed), debiased)
        del held
        start = stop
    upper = np.triu_indices(n_snap, 1)
    out[(upper[1], upper[0])] = out[upper]
    finite_diag = np.isfinite(np.diag(out))
    out[np.diag_indices(n_snap)] = np.where(finite_diag, 1.0, np.nan)
    return out


def cka_fingerprint(
    snapshots: Any, *, debiased: bool = False, max_bytes: int = _DEFAULT_MAX_BYTES
) -> np.ndarray:
    """Representation-similarity fingerprint ``D[a, b] = 1 - CKA(X_a, X_b)``.

    Linear CKA of Kornblith et al. (ICML 2019), debiased variant with the
    unbiased HSIC of Song et al. (2012). See :func:`linear_cka_matrix` for the inputs and
    the memory bound.

    Returns
    -------
    ndarray of float64, shape (T, T)
        Symmetric with a zero diagonal. In [0, 1] for the biased form (rounding clipped);
        the debiased form can exceed 1 slightly for unrelated snapshots. Pairs involving a
        constant snapshot are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 4))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    >>> D = cka_fingerprint([X, 3 * X @ Q, rng.normal(size=(50, 6))])
    >>> float(round(D[0, 1], 12)), bool(D[0, 2] > 0.5)
    (0.0, True)
    """
    cka = linear_cka_matrix(snapshots, debiased=debiased, max_bytes=max_bytes)
    out = 1.0 - cka
    if not debiased:
        out = np.clip(out, 0.0, 1.0)
    finite = np.isfinite(np.diag(cka))
    out[np.diag_indices_from(out)] = np.where(finite, 0.0, np.nan)
    return out
