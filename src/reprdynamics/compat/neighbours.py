"""The original tool's neighbour analyses, as functions of plain data.

:func:`compute_neighbours` finds each selected sample's k nearest neighbours in every
snapshot, :func:`distance_matrix` turns the change of those neighbourhoods between
consecutive snapshots into the original's heat map, and :func:`get_neighbours` lists the
neighbours with the prediction entropy the original's scatter plots. Each returns the
original's numbers, in the original's formats (``neighbours.json`` and the dashboard's).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.compat._parse import PathLike, as_id, id_list, positive_int
from reprdynamics.errors import (
    InvalidParameterError,
    NotEnoughSnapshotsError,
    UnknownSampleError,
    invalid_parameter,
)
from reprdynamics.recording import to_numpy
from reprdynamics.storage.legacy import read_legacy_json

__all__ = ["KNN_ALGORITHMS", "compute_neighbours", "distance_matrix", "get_neighbours"]

KNN_ALGORITHMS = ("auto", "ball_tree", "kd_tree", "brute")
"""The scikit-learn neighbour algorithms the original ``compute_neighbours`` accepted."""


def _load_neighbours(neighbours: Any, owner: str) -> Mapping[str, Any]:
    """The ``compute_neighbours`` dict, given as itself or as the path of its JSON."""
    if isinstance(neighbours, str | os.PathLike):
        path = Path(neighbours)
        if not path.is_file():
            raise FileNotFoundError(f"No neighbours file at {str(path)!r} (given to {owner}).")
        neighbours = read_legacy_json(
            path, remedy="Recompute it with compute_neighbours(..., save_path=...)."
        )
    if not isinstance(neighbours, Mapping) or not isinstance(neighbours.get("neighbours"), list):
        raise invalid_parameter(
            "neighbours",
            owner,
            "the dict compute_neighbours returns (with a 'neighbours' list) or its JSON's path",
            type(neighbours).__name__,
        )
    return neighbours


def _entry(snapshot: Any, key: str, t: int, owner: str) -> Mapping[str, Any]:
    entry = snapshot.get(key) if isinstance(snapshot, Mapping) else None
    if entry is None:
        held = list(snapshot)[:10] if isinstance(snapshot, Mapping) else []
        raise UnknownSampleError(
            f"Sample id {key} is not in snapshot {t} of the neighbours given to {owner} "
            f"(it holds ids {held}{'...' if len(held) == 10 else ''}); compute the neighbours "
            "for it first."
        )
    return entry


def compute_neighbours(
    snapshots: Iterable[Any],
    sample_ids: Sequence[Any],
    max_neighbours: int,
    knn_algo: str = "ball_tree",
    save_path: PathLike | None = None,
) -> dict[str, Any]:
    """The original's k nearest neighbours of selected samples in every snapshot.

    Parameters
    ----------
    snapshots
        One ``(n, D)`` array per snapshot holding the rows of ``sample_ids``, in order.
    sample_ids
        The n sample ids the rows belong to (used as the dict keys).
    max_neighbours
        k, in ``[1, n]``. The sample itself is its own first neighbour and counts.
    knn_algo
        ``"auto"``, ``"ball_tree"``, ``"kd_tree"`` or ``"brute"`` (scikit-learn's), euclidean.
    save_path
        If given, the result is also written there as JSON.

    Returns
    -------
    dict
        ``{"knn_algorithm", "max_neighbours", "neighbours": [{str(id): {"distances",
        "neighbours", "representation"}} per snapshot]}``, where ``neighbours`` are *positions
        within sample_ids* (the kNN is fitted on the selection) starting with the sample
        itself, and ``representation`` is its vector.

    Notes
    -----
    Fitted and queried with :class:`sklearn.neighbors.NearestNeighbors` and the same
    algorithm as the original's ``KNeighborsClassifier``, in one batched query per snapshot,
    so ids, tie order included, match; distances agree to rounding (BLAS may round a batched
    query differently from the original's one-row queries, in the last bits). Unlike the
    original, lists stay lists when ``max_neighbours == 1``.
    """
    from sklearn.neighbors import NearestNeighbors

    keys = [str(as_id(i)) for i in id_list(sample_ids, "compute_neighbours")]
    n = len(keys)
    if len(set(keys)) != n:
        raise invalid_parameter("sample_ids", "compute_neighbours", "distinct ids", keys)
    k = positive_int(max_neighbours, "max_neighbours", "compute_neighbours", n)
    if knn_algo not in KNN_ALGORITHMS:
        raise invalid_parameter(
            "knn_algo", "compute_neighbours", f"one of {KNN_ALGORITHMS}", knn_algo
        )
    per_snapshot: list[dict[str, Any]] = []
    for t, values in enumerate(snapshots):
        rows = np.asarray(to_numpy(values), dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] != n:
            raise InvalidParameterError(
                f"Snapshot {t} given to compute_neighbours has shape {rows.shape}; expected "
                f"({n}, D), one row per sample id."
            )
        missing = ~np.isfinite(rows).all(axis=1)
        if missing.any():
            raise InvalidParameterError(
                f"Snapshot {t} has no finite values for sample ids "
                f"{[keys[i] for i in np.flatnonzero(missing)[:5]]} (never recorded, or NaN); "
                "compute neighbours of recorded samples only."
            )
        index = NearestNeighbors(n_neighbors=k, algorithm=knn_algo).fit(rows)
        distances, positions = index.kneighbors(rows, k, return_distance=True)
        per_snapshot.append(
            {
                key: {"distances": dist, "neighbours": pos, "representation": rep}
                for key, dist, pos, rep in zip(
                    keys, distances.tolist(), positions.tolist(), rows.tolist(), strict=True
                )
            }
        )
    if not per_snapshot:
        raise NotEnoughSnapshotsError("compute_neighbours needs at least one snapshot; got none.")
    result = {"knn_algorithm": knn_algo, "max_neighbours": k, "neighbours": per_snapshot}
    if save_path is not None:
        target = Path(save_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    return result


def _mean_overlaps(neighbours: Mapping[str, Any], keys: list[str], k: int) -> np.ndarray:
    """``m_t``: mean over samples of |first k at t ∩ first k at t+1| / k, for each t."""
    snapshots = neighbours["neighbours"]
    lists = []
    for t, snapshot in enumerate(snapshots):
        rows = []
        for key in keys:
            row = _entry(snapshot, key, t, "distance_matrix").get("neighbours")
            if not isinstance(row, list) or len(row) - 1 < k:
                length = len(row) if isinstance(row, list) else 0
                raise invalid_parameter(
                    "num_neighbours",
                    "distance_matrix",
                    f"at most {max(length - 1, 0)}, the neighbours saved per sample (besides "
                    f"itself; sample {key} in snapshot {t})",
                    k,
                )
            rows.append(row[:k])
        lists.append(np.asarray(rows))
    n = len(keys)
    means = np.empty(len(snapshots) - 1)
    for t in range(len(snapshots) - 1):
        # Set semantics, as the original: an id repeated in a list counts once.
        before = np.sort(lists[t], axis=1)
        first = np.ones(before.shape, dtype=bool)
        first[:, 1:] = before[:, 1:] != before[:, :-1]
        present = (before[:, :, None] == lists[t + 1][:, None, :]).any(axis=2)
        common = (present & first).sum(axis=1)
        # A left-to-right sum like the original's, so m_t is bit-for-bit its value.
        means[t] = sum((common / k).tolist()) / n
    return means


def distance_matrix(
    neighbours: Mapping[str, Any] | PathLike,
    sample_ids: Sequence[Any],
    num_neighbours: int,
    distance_metric: str | Callable[[np.ndarray, np.ndarray], float] = "euclidean",
    col_row_format: bool = True,
) -> list[dict[str, Any]] | np.ndarray:
    r"""The original's heat map: distances between consecutive-snapshot transitions.

    For each transition ``t -> t+1`` (``T-1`` of them) the mean neighbour overlap

    .. math:: m_t = \frac{1}{n}\sum_{i \in S} \frac{|N_k(i,t) \cap N_k(i,t+1)|}{k}

    is taken over the first ``k = num_neighbours`` entries of each saved list (the sample
    itself included), and ``D[a, b] = \sqrt{n}\,|m_a - m_b|``, n = ``len(sample_ids)``:
    the original broadcast ``m_t`` over an ``(n, 1)`` array and took the euclidean distance
    between those. This is reproduced, without the original's crash on current SciPy.

    Parameters
    ----------
    neighbours
        The dict :func:`compute_neighbours` returns, or the path of its JSON. Not modified.
    sample_ids
        The ids (ints or numeric strings) whose neighbourhoods count; a subset of those the
        neighbours were computed for is fine.
    num_neighbours
        k, at most the saved list length minus one.
    distance_metric
        ``"euclidean"``, or a callable applied to the two length-n vectors filled with
        ``m_a`` and ``m_b``.
    col_row_format
        True: the original's list of ``{"row", "col", "distance"}``, in its order (rows and
        columns ``0 .. T-2``, row-major, then reversed). False: the ``(T-1, T-1)`` array.

    Notes
    -----
    Prefer the per-sample neighbour-transition fingerprint,
    ``reprdynamics.fingerprint(run, kind="neighbour-transition")``. This matrix is
    ``sqrt(n)·|m_a - m_b|``, a function of one scalar per transition (it is rank-one up to
    the absolute value), so two transitions look alike whenever *as many* neighbourhoods
    change, even if entirely different samples move, and the values grow with n. The
    fingerprint compares the per-sample overlap vectors ``v_t = (o_t(i))_{i∈S}`` instead:
    ``D[a,b] = sqrt(mean_i (o_a(i) - o_b(i))^2)``, in [0, 1], which is never below
    ``|m_a - m_b|`` (this matrix divided by sqrt(n)) and equals it only when every sample's
    overlap changes by the same amount. (It also leaves the sample itself out of its k
    neighbours, where the original counted it as the first of them.)

    Examples
    --------
    >>> nb = {"neighbours": [{"0": {"neighbours": [0, 1, 2]}, "1": {"neighbours": [1, 0, 2]}},
    ...                      {"0": {"neighbours": [0, 2, 1]}, "1": {"neighbours": [1, 0, 2]}},
    ...                      {"0": {"neighbours": [0, 1, 2]}, "1": {"neighbours": [1, 2, 0]}}]}
    >>> distance_matrix(nb, [0, 1], num_neighbours=2, col_row_format=False).round(4)
    array([[0.    , 0.3536],
           [0.3536, 0.    ]])
    """
    owner = "distance_matrix"
    data = _load_neighbours(neighbours, owner)
    n_snapshots = len(data["neighbours"])
    if n_snapshots < 2:
        raise NotEnoughSnapshotsError(
            f"distance_matrix compares transitions between snapshots and needs at least 2 "
            f"snapshots; the neighbours hold {n_snapshots}."
        )
    keys = [str(as_id(i)) for i in id_list(sample_ids, owner)]
    k = positive_int(num_neighbours, "num_neighbours", owner)
    if not (callable(distance_metric) or distance_metric == "euclidean"):
        raise invalid_parameter(
            "distance_metric", owner, "'euclidean' or a callable(u, v) -> float", distance_metric
        )
    means = _mean_overlaps(data, keys, k)
    n = len(keys)
    if callable(distance_metric):
        size = means.size
        matrix = np.empty((size, size))
        for a in range(size):
            for b in range(size):
                matrix[a, b] = float(distance_metric(np.full(n, means[a]), np.full(n, means[b])))
    else:
        matrix = np.sqrt(n) * np.abs(means[:, None] - means[None, :])
    if not col_row_format:
        return matrix
    size = matrix.shape[0]
    return [
        {"row": a, "col": b, "distance": float(matrix[a, b])}
        for a in reversed(range(size))
        for b in reversed(range(size))
    ]


def _entropy_of_softmax(values: np.ndarray) -> np.ndarray:
    """Row-wise ``H(softmax(z)) = -Σ p log p`` (natural log; 0 log 0 = 0, as scipy's entropy)."""
    shifted = values - values.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return -terms.sum(axis=1)


def get_neighbours(
    neighbours: Mapping[str, Any] | PathLike, sample_ids: Sequence[Any]
) -> list[dict[str, dict[str, Any]]]:
    """Per snapshot, each sample's neighbours as ``[id, distance]`` pairs and its entropy.

    Parameters
    ----------
    neighbours
        The dict :func:`compute_neighbours` returns, or the path of its JSON. Not modified.
    sample_ids
        The ids to report (ints or numeric strings).

    Returns
    -------
    list of dict
        Per snapshot ``{str(id): {"neighbours": [[id, distance], ...], "confidence": H}}``:
        the sample itself is left out, neighbour positions are turned into sample ids, and
        ``H`` is the entropy (natural log) of the softmax of the sample's representation.

    Notes
    -----
    Positions index the ids the neighbours were computed for. The original mapped them
    through ``sample_ids``, which is only right when ``sample_ids`` are exactly those ids (its
    dashboard failed for a subset); we do the same in that case, and otherwise map through
    each snapshot's keys, which are those ids in order. Ids come back as ints. The entropy
    is computed in float64 (the original went through float32 torch), so it agrees with the
    original's to about 1e-7.
    """
    owner = "get_neighbours"
    data = _load_neighbours(neighbours, owner)
    requested = id_list(sample_ids, owner)
    keys = [str(as_id(i)) for i in requested]
    result: list[dict[str, dict[str, Any]]] = []
    for t, snapshot in enumerate(data["neighbours"]):
        held = list(snapshot) if isinstance(snapshot, Mapping) else []
        if len(keys) == len(held) and set(keys) == set(held):
            conversion = [as_id(i) for i in requested]
        else:
            conversion = [as_id(i) for i in held]
        entries = [_entry(snapshot, key, t, owner) for key in keys]
        try:
            reps = np.asarray([e["representation"] for e in entries], dtype=np.float64)
        except (KeyError, ValueError, TypeError):
            raise InvalidParameterError(
                f"The neighbours of snapshot {t} lack equal-length 'representation' vectors; "
                "get_neighbours needs the dict compute_neighbours returns."
            ) from None
        entropy = _entropy_of_softmax(reps.reshape(len(keys), -1))
        out: dict[str, dict[str, Any]] = {}
        for key, entry, h in zip(keys, entries, entropy.tolist(), strict=True):
            pairs = []
            for pos, dist in zip(entry["neighbours"], entry["distances"], strict=False):
                if not 0 <= int(pos) < len(conversion):
                    raise UnknownSampleError(
                        f"Neighbour position {pos} of sample {key} in snapshot {t} is outside "
                        f"the {len(conversion)} samples the neighbours were computed for."
                    )
                pairs.append([conversion[int(pos)], float(dist)])
            out[key] = {"neighbours": pairs[1:], "confidence": float(h)}
        result.append(out)
    return result
