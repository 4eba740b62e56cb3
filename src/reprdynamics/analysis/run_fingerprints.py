"""A run's training fingerprint (what :data:`~reprdynamics.analysis.kinds.KINDS` defines),
its recurrence quantification and its phase changes."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprdynamics.analysis.kinds import KINDS, FingerprintInputs, get_kind
from reprdynamics.analysis.phases import PhaseChanges, phase_changes
from reprdynamics.analysis.reads import Progress
from reprdynamics.analysis.recurrence import RQAResult
from reprdynamics.analysis.recurrence import rqa as _rqa
from reprdynamics.analysis.run_inputs import (
    as_run,
    backend_token,
    cache_target,
    complete_snapshots,
    epoch_label,
    parse_k,
    parse_layer,
    parse_samples,
    selection_token,
)
from reprdynamics.analysis.run_neighbours import neighbours
from reprdynamics.storage.run import Run
from reprdynamics.validation import Real, check

#: Fingerprint kinds and whether their rows are transitions (t -> t+1) or snapshots; the
#: kinds themselves are :data:`reprdynamics.analysis.kinds.KINDS`.
FINGERPRINT_KINDS: dict[str, bool] = {name: spec.transition for name, spec in KINDS.items()}


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
        """Deprecated: the earlier name of :attr:`labels` (the rows are labelled by epoch
        or snapshot, not always epochs)."""
        warnings.warn(
            "Fingerprint.epochs is deprecated: the same list is Fingerprint.labels.",
            DeprecationWarning,
            stacklevel=2,
        )
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
    """Compute a training fingerprint of a run (Ferreira et al., J. Visualization 2022).

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
    run = as_run(run)
    ids = parse_samples(run, samples, owner)
    spec.require_applicable(run)
    if spec.needs == "predictions":
        layer_used = run.output_layer
    else:
        layer_used = parse_layer(run, layer, owner)
    if spec.uses_k:
        k = parse_k(k, ids.size, owner)
    snaps = complete_snapshots(run, f"The {name!r} fingerprint", minimum=2)
    params: dict[str, Any] = {
        "kind": name,
        "layer": layer_used,
        "samples": selection_token(ids, run.n_samples),
    }
    if spec.uses_k:
        params.update(k=k, metric=metric, backend=backend_token(backend))
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
        target = cache_target(run)
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
            f"{epoch_label(epochs[t], t)}→{epoch_label(epochs[nxt[int(t)]], nxt[int(t)])}"
            for t in rows
        ]
    else:
        labels = [epoch_label(epochs[t], int(t)) for t in rows]
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
        rate = check(
            0.1 if recurrence_rate is None else recurrence_rate,
            Real(low=0, high=1, noun="a float", closed="right"),
            "recurrence_rate",
            "rqa",
        )
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
