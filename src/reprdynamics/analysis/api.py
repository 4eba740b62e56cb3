"""Run-level analysis: streams snapshots from a run, calls the pure functions, caches results.

Everything here reads one snapshot at a time (the neighbour lists, predictions and
running sums it keeps are O(T·n·k) and O(n)), and stores heavy results in the run's
``cache/`` keyed by their parameters and the run's state, so a result computed from other
parameters or from fewer snapshots is never served.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.analysis.dynamics import DynamicsAccumulator, SampleDynamics
from reprdynamics.analysis.executors import get_executor
from reprdynamics.analysis.kinds import KINDS, FingerprintInputs, get_kind, require_predictions
from reprdynamics.analysis.phases import PhaseChanges, phase_changes
from reprdynamics.analysis.projection import fit_projection
from reprdynamics.analysis.reads import LazySnapshots, Progress, report
from reprdynamics.analysis.recurrence import RQAResult
from reprdynamics.analysis.recurrence import rqa as _rqa
from reprdynamics.analysis.stacks import NeighbourStack, compute_neighbour_stack
from reprdynamics.errors import (
    InvalidParameterError,
    NotEnoughSnapshotsError,
    UnknownSampleError,
    invalid_parameter,
    parse_int,
)
from reprdynamics.storage.run import Run, open_run

__all__ = [
    "FINGERPRINT_KINDS",
    "Fingerprint",
    "NeighbourStack",
    "ProjectionOverTime",
    "SampleTable",
    "fingerprint",
    "neighbours",
    "phase_changes_of",
    "projection",
    "rqa",
    "sample_dynamics",
]

#: Fingerprint kinds and whether their rows are transitions (t -> t+1) or snapshots; the
#: kinds themselves are :data:`reprdynamics.analysis.kinds.KINDS`.
FINGERPRINT_KINDS: dict[str, bool] = {name: spec.transition for name, spec in KINDS.items()}

# Neighbour stacks are also kept in memory, so one `analyse` (or one server) does not
# search the same neighbours once per fingerprint where the run's cache cannot be written
# (read-only locations, the bundled sample). Bounded in count and in bytes.
_MEMO: OrderedDict[tuple[str, str, str], NeighbourStack] = OrderedDict()
_MEMO_ENTRIES = 8
_MEMO_MAX_BYTES = 256 * 1024 * 1024
_MEMO_GUARD = threading.Lock()
# One computation per (run, state, parameters) at a time: a second caller (e.g. two
# dashboard views asking at once) waits and then takes the first one's result.
_COMPUTE_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_COMPUTE_LOCKS_GUARD = threading.Lock()


def _compute_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _COMPUTE_LOCKS_GUARD:
        return _COMPUTE_LOCKS.setdefault(key, threading.Lock())


# --------------------------------------------------------------------------- parsing
def _as_run(run: Run | str | os.PathLike[str]) -> Run:
    if isinstance(run, Run):
        return run
    location = os.fspath(run)
    writable = os.access(location, os.W_OK) if "://" not in location else False
    return open_run(location, mode="r+" if writable else "r")


def _cache_target(run: Run) -> Run | None:
    """A writable handle on the run for caching, or None.

    None for read-only locations and for the sample run bundled inside the package, which
    must never grow with derived results.
    """
    if run.metadata.get("bundled_sample"):
        return None
    if run.writable:
        return run
    remote = "://" in run.location
    if run.location.startswith("memory://") or (
        not remote and not os.access(run.location, os.W_OK)
    ):
        return None
    try:
        # Object storage: try; a bucket without write permission fails at the first write,
        # and the result is then merely not cached.
        return open_run(
            run.location, mode="r+", storage_options=getattr(run, "storage_options", None)
        )
    except (OSError, ValueError):
        return None


def _backend_token(backend: Any) -> str:
    """A cache key for a neighbour backend: its name, or its class and settings."""
    if isinstance(backend, str):
        return backend
    settings = {
        key: value
        for key, value in sorted(vars(backend).items())
        if not key.startswith("_")
        and not key.endswith("_")
        and isinstance(value, bool | int | float | str | type(None))
    }
    return f"{type(backend).__name__}({json.dumps(settings, sort_keys=True)})"


def _parse_samples(run: Run, samples: Any, owner: str) -> np.ndarray:
    if samples is None:
        return np.arange(run.n_samples, dtype=np.int64)
    if isinstance(samples, slice):
        return np.arange(run.n_samples, dtype=np.int64)[samples]
    ids = np.asarray(samples)
    if ids.dtype == bool:
        if ids.shape != (run.n_samples,):
            raise invalid_parameter(
                "samples", owner, f"a boolean mask of length {run.n_samples}", ids.shape
            )
        ids = np.flatnonzero(ids)
    ids = run.check_ids(
        ids.reshape(-1) if ids.ndim != 1 else ids, owner=f"the selection of {owner}"
    )
    if ids.size == 0:
        raise UnknownSampleError(f"The 'samples' selection of {owner} is empty.")
    if np.unique(ids).size != ids.size:
        raise invalid_parameter("samples", owner, "unique sample ids", "duplicates")
    return ids


def _parse_layer(run: Run, layer: str | None, owner: str) -> str:
    name = layer or run.output_layer
    run.layer_dim(name)  # raises LayerNotFoundError listing the available layers
    return name


def _parse_k(k: Any, n: int, owner: str) -> int:
    return parse_int(k, "k", owner, low=1, high=n - 1)


def _complete_snapshots(run: Run, owner: str, minimum: int = 2) -> np.ndarray:
    snaps = run.complete_snapshots
    if snaps.size < minimum:
        raise NotEnoughSnapshotsError(
            f"{owner} needs at least {minimum} complete snapshots; the run at "
            f"{run.location!r} has {snaps.size} (of {run.n_snapshots} written)."
        )
    return snaps


def _selection_token(ids: np.ndarray, n: int) -> str:
    if ids.size == n and np.array_equal(ids, np.arange(n)):
        return "all"
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:20]


def _epoch_label(epoch: Any, t: int) -> str:
    return str(epoch) if epoch is not None else f"#{t}"


def _report(progress: Progress | None, done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done, total, what)


# --------------------------------------------------------------------------- neighbours
def neighbours(
    run: Run | str | os.PathLike[str],
    *,
    k: int = 10,
    layer: str | None = None,
    samples: Any = None,
    metric: str = "euclidean",
    backend: Any = "auto",
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: Any = None,
    query_block: int | None = None,
) -> NeighbourStack:
    """The k nearest neighbours of the selection at every complete snapshot.

    Exact by default (ties by smaller distance, then smaller id). ``backend`` names a
    backend of :func:`reprdynamics.analysis.neighbours.get_backend`: ``"auto"`` (default:
    the fastest exact backend by a measured cost model), ``"exact"``, ``"kdtree"``,
    ``"faiss"``; approximate ones (``"faiss-hnsw"``, ``"faiss-ivf"``) only when asked for,
    with their recall in ``params["recall"]``.

    Each snapshot is a task (or several, one per block of ``query_block`` query rows) run
    where ``scheduler`` says (:func:`~reprdynamics.analysis.executors.get_executor`:
    threads by default, an int for local processes, a Dask ``Client`` or address). Tasks
    open the run themselves and write their rows into the run's cache, chunked per
    snapshot; the stack returned reads it lazily, so memory does not grow with T. Results
    equal the single-process path exactly.
    """
    owner = "neighbours"
    run = _as_run(run)
    layer = _parse_layer(run, layer, owner)
    ids = _parse_samples(run, samples, owner)
    k = _parse_k(k, ids.size, owner)
    if metric not in ("euclidean", "cosine"):
        raise invalid_parameter("metric", owner, "'euclidean' or 'cosine'", metric)
    if query_block is not None:
        query_block = parse_int(query_block, "query_block", owner, low=1)
    snaps = _complete_snapshots(run, owner, minimum=1)
    params = {
        "layer": layer,
        "k": k,
        "metric": metric,
        "backend": _backend_token(backend),
        "samples": _selection_token(ids, run.n_samples),
    }
    memo_key = (run.location, run.state_token(), json.dumps(params, sort_keys=True, default=str))

    def compute(target: Run | None) -> NeighbourStack:
        with get_executor(scheduler) as executor:
            return compute_neighbour_stack(
                run,
                ids,
                snaps,
                layer,
                k,
                metric,
                backend,
                params,
                executor=executor,
                target=target,
                progress=progress,
                query_block=query_block,
            )

    if not use_cache:
        return compute(None)
    with _compute_lock(memo_key):
        with _MEMO_GUARD:
            if memo_key in _MEMO:
                _MEMO.move_to_end(memo_key)
                return _MEMO[memo_key]
        cached = run.cache_arrays("neighbours", params)
        if cached is not None and "recall" in cached:
            restored: dict[str, Any] = {**params, "cached": True}
            recall = float(np.asarray(cached["recall"][...])[0])
            if np.isfinite(recall):
                restored["recall"] = recall
            stack = NeighbourStack(
                ids,
                np.asarray(cached["snapshots"][...]),
                cached["indices"],
                cached["distances"],
                restored,
            )
        else:
            # Only the whole run's stacks go to disk: every selection would add one
            # (hundreds of MB at N=50,000, T=100), never evicted. Selections live in the memo.
            target = _cache_target(run) if params["samples"] == "all" else None
            stack = compute(target)
        in_memory = 0 if stack.lazy else stack.indices.nbytes + stack.distances.nbytes
        if in_memory <= _MEMO_MAX_BYTES:
            with _MEMO_GUARD:
                _MEMO[memo_key] = stack
                while len(_MEMO) > _MEMO_ENTRIES:
                    _MEMO.popitem(last=False)
        return stack


# --------------------------------------------------------------------------- fingerprints
@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A training fingerprint: distances between the snapshots (or transitions) of a run.

    Attributes
    ----------
    kind : str
        One of :data:`FINGERPRINT_KINDS`.
    matrix : ndarray (M, M)
        Symmetric distances with a zero diagonal.
    snapshots : ndarray (M,)
        Run snapshot index of each row: the snapshot itself, or for transition kinds the
        snapshot the transition starts from (it ends at the next complete snapshot).
    labels : list of str
        Row labels by epoch: ``"3"`` or, for transitions, ``"3→4"``.
    transition : bool
        Whether rows are transitions between consecutive complete snapshots.
    params : dict
        The parameters the fingerprint was computed with.
    overlaps : ndarray (M, n) or None
        Per-sample neighbour overlaps (neighbour-transition only).
    """

    kind: str
    matrix: np.ndarray
    snapshots: np.ndarray
    labels: list[str]
    transition: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    overlaps: np.ndarray | None = None

    @property
    def epochs(self) -> list[str]:
        return self.labels

    def to_pandas(self, *, index: str = "label") -> Any:
        """The distances as a square :class:`pandas.DataFrame`, rows and columns labelled
        by the fingerprint's rows (``index="label"``: ``"3→4"``; ``"snapshot"``: the run's
        snapshot index); ``attrs`` hold ``kind``, ``layer``, ``k`` and the parameters.
        Needs the ``pandas`` extra; see :func:`reprdynamics.analysis.frames.fingerprint_frame`.
        """
        from reprdynamics.analysis.frames import fingerprint_frame

        return fingerprint_frame(self, index=index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "matrix": self.matrix.tolist(),
            "snapshots": self.snapshots.tolist(),
            "labels": list(self.labels),
            "transition": self.transition,
            "params": dict(self.params),
        }


def fingerprint(
    run: Run | str | os.PathLike[str],
    kind: str = "neighbour-transition",
    *,
    k: int = 10,
    layer: str | None = None,
    samples: Any = None,
    metric: str = "euclidean",
    backend: Any = "auto",
    debiased: bool = False,
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: Any = None,
) -> Fingerprint:
    """Compute a training fingerprint of a run (DESIGN section 2).

    Parameters
    ----------
    kind
        ``"neighbour-transition"`` (default: per-sample change of the k-neighbourhoods
        between consecutive snapshots), ``"neighbour-state"`` (1 - mean Jaccard of
        neighbourhoods), ``"class-transition"`` (NNTF), ``"disagreement"`` (fraction of
        predictions that differ) or ``"cka"`` (1 - linear CKA; ``debiased=True`` for the
        debiased estimator).
    k, metric, backend
        Neighbour parameters (neighbour kinds only).
    layer
        The layer whose representations are compared (default: the output layer). The
        prediction kinds always use the stored predictions of the output layer.
    samples
        Sample ids (or a boolean mask) of the selection; default all.
    scheduler
        Where the neighbour search runs: ``None`` (threads here), an int (local worker
        processes), a ``dask.distributed.Client`` or a scheduler address ``tcp://host:port``
        (see :func:`neighbours`). The result is the same wherever it runs.

    Only complete snapshots are used. The result is cached in the run, keyed by the
    parameters and the run's state.

    Examples
    --------
    >>> import reprdynamics as rd
    >>> fp = rd.fingerprint(rd.sample_run_path(), "class-transition")
    >>> bool((fp.matrix == fp.matrix.T).all())
    True
    """
    owner = "fingerprint"
    spec = get_kind(kind, owner)
    name = spec.name
    run = _as_run(run)
    ids = _parse_samples(run, samples, owner)
    if spec.needs == "predictions":
        require_predictions(run, f"The {name!r} fingerprint")
        layer_used = run.output_layer
    else:
        layer_used = _parse_layer(run, layer, owner)
    if spec.uses_k:
        k = _parse_k(k, ids.size, owner)
    snaps = _complete_snapshots(run, f"The {name!r} fingerprint", minimum=2)
    params: dict[str, Any] = {
        "kind": name,
        "layer": layer_used,
        "samples": _selection_token(ids, run.n_samples),
    }
    if spec.uses_k:
        params.update(k=k, metric=metric, backend=_backend_token(backend))
    given = {"debiased": bool(debiased)}
    options = {option: given.get(option, default) for option, default in spec.options.items()}
    params.update(options)
    if use_cache:
        cached = run.cache_get("fingerprint", params)
        if cached is not None:
            return _fingerprint_from(run, name, cached, spec.transition, {**params, "cached": True})

    subset = None if params["samples"] == "all" else ids
    inputs = FingerprintInputs(
        run=run,
        layer=layer_used,
        snapshots=snaps,
        ids=ids,
        subset=subset,
        progress=progress,
        k=k if spec.uses_k else None,
        options=options,
    )
    recall: dict[str, np.ndarray] = {}
    if spec.needs == "neighbours":
        inputs.stack = neighbours(
            run,
            k=k,
            layer=layer_used,
            samples=ids,
            metric=metric,
            backend=backend,
            use_cache=use_cache,
            progress=progress,
            scheduler=scheduler,
        )
        if "recall" in inputs.stack.params:
            recall["recall"] = np.asarray(inputs.stack.params["recall"])
    arrays = {**recall, **spec.compute(inputs)}
    arrays["snapshots"] = snaps[:-1] if spec.transition else snaps
    if use_cache:
        target = _cache_target(run)
        if target is not None:
            target.cache_put("fingerprint", params, arrays)
    return _fingerprint_from(run, name, arrays, spec.transition, {**params, "cached": False})


def _fingerprint_from(
    run: Run,
    name: str,
    arrays: Mapping[str, np.ndarray],
    transition: bool,
    params: Mapping[str, Any],
) -> Fingerprint:
    rows = np.asarray(arrays["snapshots"], dtype=np.int64)
    epochs = run.epochs
    complete = run.complete_snapshots
    if transition:
        nxt = {int(a): int(b) for a, b in itertools.pairwise(complete)}
        labels = [
            f"{_epoch_label(epochs[t], t)}→{_epoch_label(epochs[nxt[int(t)]], nxt[int(t)])}"
            for t in rows
        ]
    else:
        labels = [_epoch_label(epochs[t], int(t)) for t in rows]
    if "recall" in arrays:
        params = {**params, "recall": float(arrays["recall"])}
    return Fingerprint(
        kind=name,
        matrix=np.asarray(arrays["matrix"], dtype=np.float64),
        snapshots=rows,
        labels=labels,
        transition=transition,
        params=dict(params),
        overlaps=arrays.get("overlaps"),
    )


# --------------------------------------------------------------------------- RQA
def rqa(
    fp: Fingerprint | Any,
    threshold: float | None = None,
    *,
    band: tuple[float, float] | None = None,
    recurrence_rate: float | None = None,
    l_min: int = 2,
    v_min: int = 2,
    theiler: int = 1,
) -> RQAResult:
    """Recurrence quantification of a fingerprint (or any distance / recurrence matrix).

    Give ``threshold`` (R = [D <= threshold]) or ``band=(a, w)`` (R = [a <= D <= a + w]).
    With neither, a distance matrix is thresholded so that 10% of the off-diagonal points
    recur (``recurrence_rate`` changes that fraction) — the fixed-recurrence-rate choice of
    Marwan et al. (2007), which makes runs comparable. A boolean matrix is used as is.
    """
    matrix = fp.matrix if isinstance(fp, Fingerprint) else np.asarray(fp)
    if matrix.dtype == bool:
        return _rqa(matrix, l_min=l_min, v_min=v_min, theiler=theiler)
    if threshold is None and band is None:
        rate = 0.1 if recurrence_rate is None else float(recurrence_rate)
        if not 0.0 < rate <= 1.0:
            raise invalid_parameter("recurrence_rate", "rqa", "a float in (0, 1]", recurrence_rate)
        threshold = _threshold_for_rate(matrix, rate)
    return _rqa(matrix, epsilon=threshold, band=band, l_min=l_min, v_min=v_min, theiler=theiler)


def _threshold_for_rate(matrix: np.ndarray, rate: float) -> float:
    n = matrix.shape[0]
    off = matrix[~np.eye(n, dtype=bool)] if n > 1 else matrix.reshape(-1)
    off = off[np.isfinite(off)]
    if off.size == 0:
        return 0.0
    return float(np.quantile(off, rate))


def phase_changes_of(fp: Fingerprint, *, width: int = 3, z: float = 1.0) -> list[dict[str, Any]]:
    """Phase changes of a fingerprint as plain records (between which rows, score)."""
    changes: PhaseChanges = phase_changes(fp.matrix, width=width, z=z)
    out = []
    for b, score in zip(changes.boundaries, changes.scores, strict=True):
        out.append(
            {
                "between": [fp.labels[int(b)], fp.labels[int(b) + 1]],
                "snapshots": [int(fp.snapshots[int(b)]), int(fp.snapshots[int(b) + 1])],
                "score": float(score),
            }
        )
    return out


# --------------------------------------------------------------------------- per-sample
@dataclass(frozen=True, eq=False)
class SampleTable:
    """Per-sample dynamics of a run's selection: one row per sample id."""

    ids: np.ndarray
    dynamics: SampleDynamics
    snapshots: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def columns(self) -> list[str]:
        return self.dynamics.columns()

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "id":
            return self.ids
        if name in self.extras:
            return self.extras[name]
        return self.dynamics.column(name)

    def __len__(self) -> int:
        return int(self.ids.size)

    def take(self, positions: Any) -> SampleTable:
        """The rows at ``positions`` (indices into :attr:`ids`), in that order."""
        rows = np.asarray(positions, dtype=np.int64)
        return SampleTable(
            ids=self.ids[rows],
            dynamics=self.dynamics.take(rows),
            snapshots=self.snapshots,
            extras={name: values[rows] for name, values in self.extras.items()},
        )

    def all_columns(self) -> list[str]:
        """``id``, the measures, then the run's extras: every column, in CSV order."""
        return ["id", *self.columns(), *self.extras]

    def to_csv(self, path_or_buffer: Any, *, columns: Sequence[str] | None = None) -> None:
        """Write the table as CSV (header ``id,label,...``, the run's extras last), or only
        ``columns`` in that order."""
        self.dynamics.to_csv(path_or_buffer, ids=self.ids, extras=self.extras, columns=columns)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"id": self.ids, **self.dynamics.to_dict(), **self.extras}

    def to_pandas(self, *, columns: Sequence[str] | None = None) -> Any:
        """The table as a :class:`pandas.DataFrame` indexed by sample id, the columns of
        :meth:`to_csv` (or ``columns``); cells the CSV leaves empty are NaN / ``<NA>``.
        Needs the ``pandas`` extra; see :func:`reprdynamics.analysis.frames.sample_frame`.
        """
        from reprdynamics.analysis.frames import sample_frame

        return sample_frame(self, columns)

    def to_parquet(self, path: Any, columns: Sequence[str] | None = None) -> None:
        """Write the table (``id`` and the columns of :meth:`to_csv`, or ``columns`` in that
        order) as one Parquet file; cells the CSV leaves empty are null. ``path``: a path or
        a binary file object. Needs the ``parquet`` extra (pyarrow).
        """
        from reprdynamics.analysis.frames import write_parquet

        write_parquet(self, path, columns)

    def suspected_mislabeled(self, top_k: int = 20) -> np.ndarray:
        """Sample ids most likely mislabeled: lowest area under the margin first."""
        from reprdynamics.analysis.dynamics import mislabel_ranking

        order = mislabel_ranking(self.dynamics, top_k=top_k)
        return self.ids[order]

    def most_changed(self, top_k: int = 20) -> np.ndarray:
        """Sample ids whose neighbourhoods changed most (lowest neighbour stability)."""
        stability = self.dynamics.neighbour_stability
        if stability is None:
            raise InvalidParameterError(
                "most_changed needs neighbour stability; compute the table with neighbour_k."
            )
        order = np.argsort(np.where(np.isnan(stability), np.inf, stability), kind="stable")
        return self.ids[order[:top_k]]


def sample_dynamics(
    run: Run | str | os.PathLike[str],
    *,
    samples: Any = None,
    neighbour_k: int | None = 10,
    neighbour_layer: str | None = None,
    metric: str = "euclidean",
    backend: Any = "auto",
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: Any = None,
) -> SampleTable:
    """Per-sample dynamics of a run (DESIGN section 2), one snapshot at a time.

    Entropy per snapshot, cartography (confidence, variability, correctness), forgetting
    events and ``never_learned``, AUM, first-learned snapshot (these need labels and an
    output layer of logits or probabilities), and neighbour stability (mean overlap of the
    ``neighbour_k`` neighbourhoods in ``neighbour_layer``; ``neighbour_k=None`` skips it).
    The neighbour search runs where ``scheduler`` says (see :func:`neighbours`); the rest
    streams the snapshots in this process, holding O(n) per-sample sums.
    """
    owner = "sample_dynamics"
    run = _as_run(run)
    ids = _parse_samples(run, samples, owner)
    snaps = _complete_snapshots(run, "sample_dynamics", minimum=1)
    subset = None if ids.size == run.n_samples and np.array_equal(ids, np.arange(ids.size)) else ids
    labels = run.labels
    kind = run.kind
    acc = DynamicsAccumulator(labels[ids] if labels is not None else None, kind=kind)
    overlaps: Iterator[np.ndarray] | None = None
    if neighbour_k is not None and ids.size > 1 and snaps.size > 1:
        k = _parse_k(neighbour_k, ids.size, owner)
        stack = neighbours(
            run,
            k=k,
            layer=neighbour_layer,
            samples=ids,
            metric=metric,
            backend=backend,
            use_cache=use_cache,
            progress=progress,
            scheduler=scheduler,
        )
        overlaps = stack.iter_overlaps()  # streamed: one transition at a time
    for pos, t in enumerate(snaps):
        values = None if kind == "features" else run.read(run.output_layer, int(t), subset)
        overlap = None if overlaps is None or pos == 0 else next(overlaps)
        acc.update(values, overlap=overlap)
        report(progress, pos + 1, snaps.size, "per-sample dynamics")
    extras = {}
    for name in ("label_flipped", "clean_labels"):
        if name in run.extras:
            extras[name] = run.extra(name)[ids]
    return SampleTable(ids=ids, dynamics=acc.result(), snapshots=snaps, extras=extras)


# --------------------------------------------------------------------------- projection
@dataclass(frozen=True, eq=False)
class ProjectionOverTime:
    """2-D positions of the selection at every complete snapshot, one PCA for all."""

    ids: np.ndarray
    snapshots: np.ndarray
    coords: np.ndarray  # (T, n, 2) float32
    explained_variance_ratio: np.ndarray
    layer: str


def projection(
    run: Run | str | os.PathLike[str],
    *,
    layer: str | None = None,
    samples: Any = None,
    max_fit_rows: int = 20_000,
    seed: int = 0,
    use_cache: bool = True,
) -> ProjectionOverTime:
    """One 2-D PCA fitted on all complete snapshots (subsampled) and applied to each."""
    owner = "projection"
    run = _as_run(run)
    layer = _parse_layer(run, layer, owner)
    ids = _parse_samples(run, samples, owner)
    snaps = _complete_snapshots(run, owner, minimum=1)
    if run.layer_dim(layer) < 2:
        raise InvalidParameterError(f"Layer {layer!r} has one dimension; nothing to project.")
    params = {
        "layer": layer,
        "samples": _selection_token(ids, run.n_samples),
        "max_fit_rows": max_fit_rows,
        "seed": seed,
    }
    if use_cache:
        cached = run.cache_get("projection", params)
        if cached is not None:
            return ProjectionOverTime(
                ids, cached["snapshots"], cached["coords"], cached["ratio"], layer
            )
    subset = None if params["samples"] == "all" else ids
    lazy = LazySnapshots(run, layer, snaps, subset, None)
    fitted = fit_projection(lazy, 2, max_fit_rows=max_fit_rows, seed=seed)
    coords = np.empty((snaps.size, ids.size, 2), dtype=np.float32)
    for pos in range(snaps.size):
        coords[pos] = fitted.transform(lazy[pos])
    ratio = np.asarray(fitted.explained_variance_ratio_, dtype=np.float64)
    if use_cache:
        target = _cache_target(run)
        if target is not None:
            target.cache_put(
                "projection", params, {"snapshots": snaps, "coords": coords, "ratio": ratio}
            )
    return ProjectionOverTime(ids, snaps, coords, ratio, layer)


def list_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Runs directly in ``root`` (or ``root`` itself when it is a run), sorted by name."""
    from reprdynamics.storage.run import is_run

    base = Path(root)
    if is_run(base):
        return [base]
    if not base.is_dir():
        raise FileNotFoundError(f"{str(base)!r} is neither a run nor a directory of runs.")
    return sorted(p for p in base.iterdir() if p.is_dir() and is_run(p))
