"""The original ReprDynamics API (``ReprD``, ``ReprDataset``) on top of recording and storage.

Code written for the original tool keeps working with one changed import::

    from reprdynamics import ReprD, ReprDataset

and returns the original's numbers (neighbour lists, distances, the heat map's values).
What changed underneath, and why:

* **Storage.** ``ReprD(save_path=DIR)`` records into a run (the Zarr format of
  :mod:`reprdynamics.storage.run`) at ``DIR/run`` (:data:`RUN_DIRNAME`), through a
  :class:`~reprdynamics.recording.Recorder`, instead of rewriting ``DIR/snapshots.json``
  after every batch (quadratic in the number of batches, and corrupt if killed mid-write).
  ``ReprDataset.save(DIR)`` still writes ``DIR/data/data.npy`` and ``DIR/data/labels.npy``;
  ``ReprD`` puts them into the run as inputs and labels when they are there already (the
  original's README saves the dataset first). Without ``save_path`` the run lives in a
  temporary directory removed with the ``ReprD``.
* **Flushing.** A snapshot is written when the epoch moves to the next snapshot. The last
  one is written without any new call: by the first analysis (``compute_neighbours``,
  ``.snapshots``), when the ``ReprD`` is garbage-collected, and at interpreter exit (in
  ``threading``'s exit hooks, before the thread pools zarr writes through shut down).
  ``close()`` and ``with ReprD(...) as reprd:`` do it explicitly.
* **Loading.** ``ReprD(load_path=...)`` opens a run, a directory holding one (a
  ``save_path``), a legacy ``snapshots.json`` or a legacy save directory. Legacy JSON is
  kept in memory as float64, exactly the file's values, so ``compute_neighbours`` reproduces
  the original's ``neighbours.json`` exactly; :func:`reprdynamics.storage.legacy.import_legacy`
  converts it to a run (float32) for everything else.
* **ReprDataset and torch.** ``ReprDataset`` subclasses ``torch.utils.data.Dataset`` when
  torch is installed, and is a plain map-style dataset (``__getitem__``/``__len__``, which is
  all ``DataLoader`` needs) when it is not. Because nothing outside ``integrations/`` may
  import a framework when it is imported, the class is built on first access of
  ``reprdynamics.compat.ReprDataset`` (a module ``__getattr__``): ``from reprdynamics import
  ReprD`` never imports torch; ``from reprdynamics import ReprDataset`` imports
  ``torch.utils.data`` only if torch is installed.

The analyses are also module-level functions that take plain data:
:func:`compute_neighbours`, :func:`distance_matrix` and :func:`get_neighbours`.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import os
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import (
    CorruptRunError,
    InvalidParameterError,
    NotEnoughSnapshotsError,
    RecordingError,
    RunNotFoundError,
    UnknownSampleError,
    invalid_parameter,
)
from reprdynamics.recording import Recorder, snapshot_step_size, to_ids, to_numpy
from reprdynamics.storage.legacy import LEGACY_SNAPSHOTS, read_legacy_snapshots
from reprdynamics.storage.run import Run, is_run, open_run

__all__ = [
    "KNN_ALGORITHMS",
    "RUN_DIRNAME",
    "ReprD",
    "ReprDataset",
    "compute_neighbours",
    "distance_matrix",
    "get_neighbours",
]

RUN_DIRNAME = "run"
"""``ReprD(save_path=DIR)`` records its run at ``DIR/run``."""

KNN_ALGORITHMS = ("auto", "ball_tree", "kd_tree", "brute")
"""The scikit-learn neighbour algorithms the original ``compute_neighbours`` accepted."""

PathLike = str | os.PathLike[str]

ReprDataset: type  # built on first access by the module __getattr__ below


# ====================================================================== ReprDataset
class _ReprDatasetMixin:
    """Wrap inputs and labels as a map-style dataset of ``{"X", "y", "index"}`` items.

    Parameters
    ----------
    data_x
        The inputs, indexable by sample id: a NumPy array (e.g. ``N×H×W×C`` uint8 images), a
        tensor, or a list.
    data_y
        Optional labels, one per input: a list, array or tensor. Without labels an item's
        ``"y"`` is ``-1`` (the run format's "unknown"), where the original returned ``None``,
        which ``DataLoader``'s default collate cannot batch.
    transform
        Optional callable applied to ``X`` of each item (e.g. a torchvision transform).

    Examples
    --------
    >>> import numpy as np
    >>> from reprdynamics import ReprDataset
    >>> ds = ReprDataset(np.zeros((4, 8, 8), dtype=np.uint8), [0, 1, 1, 0])
    >>> len(ds), ds[2]["y"], ds[2]["index"]
    (4, 1, 2)
    """

    def __init__(self, data_x: Any, data_y: Any = None, transform: Callable | None = None):
        if data_y is not None and len(data_y) != len(data_x):
            raise invalid_parameter(
                "data_y", "ReprDataset", f"{len(data_x)} labels, one per input", len(data_y)
            )
        self.data = data_x
        self.labels = data_y
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        x = self.data[index]
        # `is not None`, not truthiness: the original's `if self.labels:` fails on arrays.
        y = self.labels[index] if self.labels is not None else -1
        if self.transform is not None:
            x = self.transform(x)
        return {"X": x, "y": y, "index": index}

    def save(self, fpath: PathLike) -> Path:
        """Write ``fpath/data/data.npy`` (and ``fpath/data/labels.npy`` if labelled).

        Directories are created as needed. Returns the ``data`` directory.
        """
        data_dir = Path(fpath) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        np.save(data_dir / "data.npy", _stackable(self.data))
        if self.labels is not None:
            np.save(data_dir / "labels.npy", _stackable(self.labels))
        return data_dir

    def __repr__(self) -> str:
        labelled = "labelled" if self.labels is not None else "unlabelled"
        return f"<ReprDataset: {len(self)} samples, {labelled}>"


def _stackable(values: Any) -> np.ndarray:
    if isinstance(values, list | tuple):
        return np.asarray([to_numpy(v) for v in values])
    return np.asarray(to_numpy(values))


def _build_repr_dataset() -> type:
    """``ReprDataset``: a ``torch.utils.data.Dataset`` subclass if torch is installed."""
    bases: tuple[type, ...] = (_ReprDatasetMixin,)
    if importlib.util.find_spec("torch") is not None:
        try:
            torch_data = importlib.import_module("torch.utils.data")
        except ImportError:  # pragma: no cover - a broken torch install
            torch_data = None
        if torch_data is not None:
            bases = (_ReprDatasetMixin, torch_data.Dataset)
    namespace = {
        "__module__": __name__,
        "__qualname__": "ReprDataset",
        "__doc__": _ReprDatasetMixin.__doc__,
    }
    return type("ReprDataset", bases, namespace)


def __getattr__(name: str) -> Any:
    if name == "ReprDataset":
        cls = _build_repr_dataset()
        globals()["ReprDataset"] = cls  # built once; pickle finds the same class again
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ====================================================================== parsing helpers
def _as_id(value: Any) -> Any:
    """A sample id as an int where it is one (ids arrive as ints, NumPy ints or strings)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else value
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # 0-d tensor or array
        return _as_id(value.item())
    return value


def _parse_epoch(epoch: Any) -> int:
    expected = "a whole number >= 0"
    if isinstance(epoch, bool):
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch)
    try:
        value = float(epoch)  # ints, floats, NumPy scalars, 0-d tensors
    except (TypeError, ValueError):
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch) from None
    if not value.is_integer() or value < 0:
        raise invalid_parameter("epoch", "ReprD.store_batch", expected, epoch)
    return int(value)


def _id_list(sample_ids: Any, owner: str) -> list[Any]:
    if isinstance(sample_ids, str | bytes) or sample_ids is None:
        raise invalid_parameter("sample_ids", owner, "a sequence of sample ids", sample_ids)
    if hasattr(sample_ids, "detach") or isinstance(sample_ids, np.ndarray | range):
        return to_ids(sample_ids).tolist()
    try:
        ids = list(sample_ids)
    except TypeError:
        raise invalid_parameter(
            "sample_ids", owner, "a sequence of sample ids", sample_ids
        ) from None
    if not ids:
        raise invalid_parameter("sample_ids", owner, "a non-empty sequence of sample ids", ids)
    return ids


def _sample_index(sample_ids: Any, n_samples: int, owner: str) -> np.ndarray:
    """Sample ids (ints, NumPy ints, numeric strings, a tensor) as unique int64 ids."""
    ids = _id_list(sample_ids, owner)
    try:
        idx = np.asarray([int(i) for i in ids], dtype=np.int64)
    except (TypeError, ValueError):
        raise invalid_parameter("sample_ids", owner, "integer sample ids", ids[:5]) from None
    bad = (idx < 0) | (idx >= n_samples)
    if bad.any():
        raise UnknownSampleError(
            f"{int(bad.sum())} of the sample_ids given to {owner} are outside "
            f"[0, {n_samples}): e.g. {idx[bad][:5].tolist()}."
        )
    unique, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise invalid_parameter(
            "sample_ids", owner, "distinct ids", f"repeated ids {unique[counts > 1][:5].tolist()}"
        )
    return idx


def _positive_int(value: Any, name: str, owner: str, upper: int | None = None) -> int:
    expected = f"an int in [1, {upper}]" if upper is not None else "an int >= 1"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise invalid_parameter(name, owner, expected, value)
    if value < 1 or (upper is not None and value > upper):
        raise invalid_parameter(name, owner, expected, value)
    return int(value)


def _load_neighbours(neighbours: Any, owner: str) -> Mapping[str, Any]:
    """The ``compute_neighbours`` dict, given as itself or as the path of its JSON."""
    if isinstance(neighbours, str | os.PathLike):
        path = Path(neighbours)
        if not path.is_file():
            raise FileNotFoundError(f"No neighbours file at {str(path)!r} (given to {owner}).")
        try:
            with open(path, encoding="utf-8") as handle:
                neighbours = json.load(handle)
        except json.JSONDecodeError as exc:
            raise CorruptRunError(
                f"{str(path)!r} is corrupt: it is not valid JSON ({exc.msg} at line "
                f"{exc.lineno}). Recompute it with compute_neighbours(..., save_path=...)."
            ) from exc
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


# ====================================================================== analyses
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

    keys = [str(_as_id(i)) for i in _id_list(sample_ids, "compute_neighbours")]
    n = len(keys)
    if len(set(keys)) != n:
        raise invalid_parameter("sample_ids", "compute_neighbours", "distinct ids", keys)
    k = _positive_int(max_neighbours, "max_neighbours", "compute_neighbours", n)
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
    keys = [str(_as_id(i)) for i in _id_list(sample_ids, owner)]
    k = _positive_int(num_neighbours, "num_neighbours", owner)
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
    requested = _id_list(sample_ids, owner)
    keys = [str(_as_id(i)) for i in requested]
    result: list[dict[str, dict[str, Any]]] = []
    for t, snapshot in enumerate(data["neighbours"]):
        held = list(snapshot) if isinstance(snapshot, Mapping) else []
        if len(keys) == len(held) and set(keys) == set(held):
            conversion = [_as_id(i) for i in requested]
        else:
            conversion = [_as_id(i) for i in held]
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


# ====================================================================== ReprD
def _load_saved_dataset(save_path: Path, n_samples: int) -> tuple[Any, Any]:
    """Labels and inputs written by ``ReprDataset.save(save_path)``, if they fit the run."""
    labels = inputs = None
    data_dir = save_path / "data"
    labels_file, data_file = data_dir / "labels.npy", data_dir / "data.npy"
    if labels_file.is_file():
        try:
            values = np.load(labels_file, allow_pickle=False).reshape(-1)
            integral = np.issubdtype(values.dtype, np.integer) or (
                np.issubdtype(values.dtype, np.floating)
                and bool(np.all(np.isfinite(values) & (values == np.round(values))))
            )
            if values.shape == (n_samples,) and integral and values.min(initial=0) >= -1:
                labels = values.astype(np.int64)
            else:
                warnings.warn(
                    f"{str(labels_file)!r} does not hold {n_samples} integer labels; the run is "
                    "recorded without labels.",
                    stacklevel=3,
                )
        except (OSError, ValueError) as exc:
            warnings.warn(f"{str(labels_file)!r} cannot be read ({exc}); ignored.", stacklevel=3)
    if data_file.is_file():
        try:
            values = np.load(data_file, allow_pickle=False)
            if values.ndim >= 1 and values.shape[0] == n_samples and values.dtype.kind in "uifb":
                inputs = values
            else:
                warnings.warn(
                    f"{str(data_file)!r} does not hold {n_samples} numeric inputs; the run is "
                    "recorded without inputs (thumbnails).",
                    stacklevel=3,
                )
        except (OSError, ValueError) as exc:
            warnings.warn(f"{str(data_file)!r} cannot be read ({exc}); ignored.", stacklevel=3)
    return labels, inputs


def _close_recorder(recorder: Recorder) -> None:
    # Runs from a finalizer or an exit hook, where a raised error would be printed out of
    # context or cut interpreter shutdown short: say what was lost instead.
    try:
        recorder.close()
    except Exception as exc:
        warnings.warn(
            f"ReprD could not write its last snapshot to {recorder.run.location!r}: {exc!r}",
            RuntimeWarning,
            stacklevel=2,
        )


def _at_exit(callback: Callable[[], Any]) -> None:
    """Run ``callback`` at interpreter exit, while zarr can still write.

    ``atexit`` is too late: by then ``concurrent.futures`` has shut down its thread pools
    (in ``threading``'s own exit hooks), and zarr's local store writes through
    ``asyncio.to_thread``. ``threading``'s hooks run last-registered first, so one
    registered after ``concurrent.futures.thread`` is imported runs before that shutdown.
    """
    import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered first)

    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython has had it since 3.9
        atexit.register(callback)
        return
    try:
        register(callback)
    except RuntimeError:  # pragma: no cover - the interpreter is already shutting down
        atexit.register(callback)


class ReprD:
    """Record a network's outputs per snapshot and compute the original tool's analyses.

    Parameters
    ----------
    data_size
        N, the number of samples (needed to record; inferred when loading).
    num_epochs, num_snapshots
        The schedule: a snapshot every ``step_size = max(1, num_epochs // num_snapshots)``
        epochs (the original's ``int(num_epochs / num_snapshots)`` could be 0). Without both,
        ``step_size`` is 1 when recording, and inferred from the run's epochs when loading.
    save_path
        Directory to record into; the run is written at ``save_path/run``
        (:data:`RUN_DIRNAME`), and ``save_path/data`` written by ``ReprDataset.save`` is
        stored in it. ``None`` records into a temporary directory.
    load_path
        Open existing snapshots instead of recording: a run, a directory holding one, a
        legacy ``snapshots.json`` or a legacy save directory.
    overwrite
        Replace a run of ours already at ``save_path/run`` (default, as the original
        rewrote ``snapshots.json``). Other files are never replaced.

    Attributes
    ----------
    step_size : int
        Epochs between snapshots; snapshot index = ``epoch // step_size``.
    run_path : pathlib.Path or None
        Where the run is (None for legacy JSON loaded into memory).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from reprdynamics import ReprD
    >>> rng = np.random.default_rng(0)
    >>> reprd = ReprD(data_size=8, num_epochs=4, num_snapshots=2, save_path=tempfile.mkdtemp())
    >>> for epoch in range(4):
    ...     if not epoch % reprd.step_size:
    ...         reprd.store_batch(rng.normal(size=(8, 3)), ids=list(range(8)), epoch=epoch)
    >>> nb = reprd.compute_neighbours(max_neighbours=3, knn_algo="ball_tree",
    ...                               sample_ids=list(range(8)))
    >>> len(nb["neighbours"]), nb["neighbours"][0]["5"]["neighbours"][0]
    (2, 5)
    """

    def __init__(
        self,
        data_size: int | None = None,
        num_epochs: int | None = None,
        num_snapshots: int | None = None,
        save_path: PathLike | None = None,
        load_path: PathLike | None = None,
        *,
        overwrite: bool = True,
    ) -> None:
        self.data_size = data_size
        self.num_epochs = num_epochs
        self.num_snapshots = num_snapshots
        self.save_path = None if save_path is None else Path(save_path)
        self.load_path = None if load_path is None else Path(load_path)
        self.run_path: Path | None = None
        self.step_size = 1
        self._run: Run | None = None
        self._memory: list[np.ndarray] | None = None
        self._recorder: Recorder | None = None
        self._finalizer: weakref.finalize | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._open_index: int | None = None  # snapshot index being assembled
        self._open_epoch: int | None = None  # the epoch it is recorded under
        self._last_index: int | None = None
        self._closed = False
        if self.load_path is not None:
            self._load(self.load_path)
        else:
            self._start_recording(overwrite)

    # ------------------------------------------------------------------ set-up
    def _schedule(self, required: bool) -> int | None:
        if self.num_epochs is None and self.num_snapshots is None:
            return None
        if self.num_epochs is None or self.num_snapshots is None:
            if not required:
                return None
            raise InvalidParameterError("num_epochs and num_snapshots go together; give both.")
        return snapshot_step_size(self.num_epochs, self.num_snapshots)

    def _start_recording(self, overwrite: bool) -> None:
        if self.data_size is None:
            raise invalid_parameter(
                "data_size", "ReprD", "the number of samples (an int >= 1) to record", None
            )
        self.data_size = _positive_int(self.data_size, "data_size", "ReprD")
        self.step_size = self._schedule(required=True) or 1
        if self.save_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="reprdynamics-")
            self.run_path = Path(self._tempdir.name) / RUN_DIRNAME
            labels = inputs = None
        else:
            self.run_path = self.save_path / RUN_DIRNAME
            labels, inputs = _load_saved_dataset(self.save_path, self.data_size)
        self._recorder = Recorder(
            self.run_path,
            n_samples=self.data_size,
            labels=labels,
            inputs=inputs,
            metadata={
                "recorded_by": "reprdynamics.compat.ReprD",
                "num_epochs": self.num_epochs,
                "num_snapshots": self.num_snapshots,
                "step_size": self.step_size,
            },
            overwrite=overwrite and is_run(self.run_path),
            # The seed's API has no close(): a snapshot must be on disk when it ends.
            background=False,
        )
        self._run = self._recorder.run
        # Flush what is pending when this object is collected, and at interpreter exit. The
        # finalizer holds the recorder, never the ReprD, so it does not keep it alive.
        self._finalizer = weakref.finalize(self, _close_recorder, self._recorder)
        self._finalizer.atexit = False
        _at_exit(self._finalizer)

    def _load(self, target: Path) -> None:
        run_location = None
        if is_run(target):
            run_location = target
        elif is_run(target / RUN_DIRNAME):
            run_location = target / RUN_DIRNAME
        elif target.is_file() or (target / LEGACY_SNAPSHOTS).is_file():
            self._memory = read_legacy_snapshots(target, dtype=np.float64)
        elif target.name == LEGACY_SNAPSHOTS and not target.exists():
            # The original's dashboard loaded save_dir/snapshots.json; ReprD now records
            # save_dir/run instead.
            for candidate in (target.parent, target.parent / RUN_DIRNAME):
                if is_run(candidate):
                    run_location = candidate
                    break
        if run_location is None and self._memory is None:
            raise RunNotFoundError(
                f"Nothing to load at {str(target)!r}: load_path must be a ReprDynamics run, a "
                "directory holding one (a ReprD save_path), a legacy snapshots.json, or a "
                "legacy save directory holding snapshots.json."
            )
        if run_location is not None:
            self._run = open_run(run_location)
            self.run_path = Path(run_location)
            n_samples = self._run.n_samples
        else:
            n_samples = int(self._memory[0].shape[0])  # type: ignore[index]
        if self.data_size is not None and self.data_size != n_samples:
            raise invalid_parameter(
                "data_size", "ReprD", f"{n_samples}, the number of samples loaded", self.data_size
            )
        self.data_size = n_samples
        step = self._schedule(required=False)
        if step is None and self._run is not None:
            epochs = [e for e in self._run.epochs if e is not None]
            step = max(1, epochs[1] - epochs[0]) if len(epochs) >= 2 else None
        self.step_size = step or 1

    # ------------------------------------------------------------------ recording
    def store_batch(self, representation: Any, ids: Any, epoch: int) -> None:
        """Store one batch of outputs in the snapshot of this epoch.

        Parameters
        ----------
        representation
            ``(B, D)`` outputs: a torch tensor (any device, with grad), array, ...
        ids
            ``(B,)`` sample ids.
        epoch
            The current epoch; the batch goes to snapshot ``epoch // step_size``. When that
            index moves on, the previous snapshot is written to the run.
        """
        if self._recorder is None:
            raise RecordingError(
                "This ReprD was opened with load_path and only analyses; record with "
                "ReprD(data_size=..., num_epochs=..., num_snapshots=..., save_path=...)."
            )
        if self._closed:
            raise RecordingError("This ReprD is closed; create a new one to record again.")
        epoch = _parse_epoch(epoch)
        index = epoch // self.step_size
        if self._last_index is not None:
            if index < self._last_index:
                raise RecordingError(
                    f"Epoch {epoch} belongs to snapshot {index}, but snapshot {self._last_index} "
                    "has begun; epochs passed to store_batch must not go backwards."
                )
            if index == self._last_index and self._open_index is None:
                raise RecordingError(
                    f"Snapshot {index} (epoch {epoch}) was already written to the run when "
                    "it was flushed (by compute_neighbours, .snapshots or flush()); analyse "
                    "after training, or store later epochs only."
                )
        if index != self._open_index:
            self._open_epoch = epoch
        self._recorder.store_batch(representation, ids, epoch=self._open_epoch)
        self._open_index = self._last_index = index

    def flush(self) -> None:
        """Write the snapshot being assembled, if any."""
        if self._recorder is not None and self._open_index is not None:
            self._recorder.end_snapshot()
            self._open_index = None

    def close(self) -> None:
        """Write what is pending and stop recording; analyses keep working."""
        if self._closed:
            return
        self.flush()
        if self._finalizer is not None:
            self._finalizer()  # closes the recorder, once; the exit hook is then a no-op
        self._closed = True

    def __enter__(self) -> ReprD:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Like the original, which wrote every batch at once, nothing stored is dropped; a
        # snapshot missing samples is written with complete=False.
        self.close()

    # ------------------------------------------------------------------ data
    @property
    def run(self) -> Run | None:
        """The run holding the snapshots (None for legacy JSON held in memory)."""
        return self._run

    @property
    def n_snapshots(self) -> int:
        self.flush()
        if self._memory is not None:
            return len(self._memory)
        return self._run.n_snapshots if self._run is not None else 0

    @property
    def snapshots(self) -> list[np.ndarray]:
        """Every snapshot as an ``(N, D)`` array (read from the run; writes pending data)."""
        self.flush()
        if self._memory is not None:
            return self._memory
        assert self._run is not None
        return [self._run.read(snapshot=t) for t in range(self._run.n_snapshots)]

    @snapshots.setter
    def snapshots(self, values: Iterable[Any]) -> None:
        self.close()
        self._memory = [np.asarray(to_numpy(v), dtype=np.float64) for v in values]
        self._run = None
        if self._memory:
            self.data_size = int(self._memory[0].shape[0])

    def load_snapshots(self, fpath: PathLike) -> None:
        """Analyse snapshots from a ``.npy`` file of shape ``(T, N, D)`` (as the original)."""
        self.snapshots = list(np.load(fpath, allow_pickle=False))

    def _rows(self, ids: np.ndarray) -> Iterable[np.ndarray]:
        if self._memory is not None:
            for snapshot in self._memory:
                yield snapshot[ids]
            return
        assert self._run is not None
        for t in range(self._run.n_snapshots):
            yield self._run.read(snapshot=t, ids=ids)

    # ------------------------------------------------------------------ analyses
    def compute_neighbours(
        self,
        max_neighbours: int,
        knn_algo: str = "ball_tree",
        sample_ids: Sequence[Any] | None = None,
        save_path: PathLike | None = None,
    ) -> dict[str, Any]:
        """k nearest neighbours of ``sample_ids`` (default: all samples) in every snapshot.

        See :func:`compute_neighbours` for the result's format. Pending data is written
        first. Values read from a run (float32) are widened to float64, as the original
        widened network outputs into its float64 buffers.
        """
        self.flush()
        n = self.data_size or 0
        ids = _sample_index(range(n) if sample_ids is None else sample_ids, n, "compute_neighbours")
        # Check the cheap parameters before reading any snapshot.
        _positive_int(max_neighbours, "max_neighbours", "compute_neighbours", ids.size)
        if knn_algo not in KNN_ALGORITHMS:
            raise invalid_parameter(
                "knn_algo", "compute_neighbours", f"one of {KNN_ALGORITHMS}", knn_algo
            )
        if self.n_snapshots == 0:
            raise NotEnoughSnapshotsError(
                "compute_neighbours needs at least one snapshot; none has been recorded."
            )
        return compute_neighbours(
            self._rows(ids), ids.tolist(), max_neighbours, knn_algo, save_path=save_path
        )

    def distance_matrix(
        self,
        neighbours: Mapping[str, Any] | PathLike,
        sample_ids: Sequence[Any],
        num_neighbours: int,
        distance_metric: str | Callable[[np.ndarray, np.ndarray], float] = "euclidean",
        col_row_format: bool = True,
    ) -> list[dict[str, Any]] | np.ndarray:
        """The original's transition heat map; see :func:`distance_matrix`."""
        return distance_matrix(
            neighbours, sample_ids, num_neighbours, distance_metric, col_row_format
        )

    def get_neighbours(
        self, neighbours: Mapping[str, Any] | PathLike, sample_ids: Sequence[Any]
    ) -> list[dict[str, dict[str, Any]]]:
        """Neighbours as ``[id, distance]`` and prediction entropy; see :func:`get_neighbours`."""
        return get_neighbours(neighbours, sample_ids)

    def hamming_distance(self, a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> float:
        """The original's name for the mean neighbour overlap of two lists of neighbour lists.

        ``mean_i |set(a_i) ∩ set(b_i)| / len(a_i)`` — a similarity in [0, 1], not a distance.
        """
        if len(a) != len(b) or not a:
            raise InvalidParameterError("hamming_distance needs two equally long, non-empty lists.")
        return sum(len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)) / len(a)

    def __repr__(self) -> str:
        where = self.run_path if self.run_path is not None else self.load_path
        mode = "recording" if self._recorder is not None and not self._closed else "analysis"
        return f"<ReprD {mode}: N={self.data_size}, step_size={self.step_size}, at {str(where)!r}>"
