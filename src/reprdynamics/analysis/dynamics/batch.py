"""Every per-sample measure at once, from the ``(T, N, C)`` array of a run's outputs.

:class:`~reprdynamics.analysis.dynamics.DynamicsAccumulator` computes the same table one
snapshot at a time, with the same kernels.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from reprdynamics.analysis._described import describe_array
from reprdynamics.analysis.dynamics._kernels import (
    _correctness_fraction,
    _entropy_kernel,
    _first_learned_from_correct,
    _forgetting_from_correct,
    _label_kernel,
)
from reprdynamics.analysis.dynamics._parsing import (
    OutputKind,
    _parse_kind,
    _parse_labels,
    _parse_outputs,
    _parse_overlaps,
)
from reprdynamics.analysis.dynamics.stability import neighbour_stability
from reprdynamics.analysis.dynamics.table import SampleDynamics
from reprdynamics.errors import NotEnoughSnapshotsError, invalid_parameter


def dynamics_from_outputs(
    outputs: ArrayLike | None,
    labels: ArrayLike | None = None,
    *,
    kind: OutputKind = "logits",
    overlaps: ArrayLike | None = None,
) -> SampleDynamics:
    """Every per-sample measure at once, as a :class:`SampleDynamics` table.

    Without labels, only the label-free measures (entropy, prediction, neighbour stability)
    are filled. For ``kind="features"`` no prediction measure applies: ``outputs`` (T, N, D)
    only gives T and N and may be None when ``overlaps`` is given (then T = len(overlaps) + 1).
    :class:`DynamicsAccumulator` computes the same table one snapshot at a time.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C), or None for kind "features"
    labels : array-like of int, shape (N,), optional
        ``-1`` = unknown.
    kind : {"logits", "probabilities", "features"}
    overlaps : array-like of shape (T−1, N), optional
        Neighbour overlaps between consecutive snapshots.

    Examples
    --------
    >>> table = dynamics_from_outputs([[[2.0, 0.0]], [[0.0, 2.0]]], [0])
    >>> table.columns()[:4], table.forgetting_events.tolist()
    (['label', 'prediction', 'entropy_first', 'entropy_last'], [1])
    """
    owner = "dynamics_from_outputs"
    kind = _parse_kind(kind, owner, allow_features=True)  # type: ignore[assignment]
    stability = None
    if overlaps is not None:
        overlap_values = _parse_overlaps(overlaps, owner, ndim=2)
    if kind == "features":
        if outputs is None:
            if overlaps is None:
                raise invalid_parameter(
                    "outputs", owner, "an array (or 'overlaps' given) for kind 'features'", None
                )
            n_snapshots, n_samples = overlap_values.shape[0] + 1, overlap_values.shape[1]
        else:
            shape = np.shape(outputs)
            if len(shape) != 3:
                raise invalid_parameter(
                    "outputs", owner, "a (T, N, D) array", describe_array(np.asarray(outputs))
                )
            n_snapshots, n_samples = shape[0], shape[1]
        if n_snapshots == 0:
            raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; got T=0.")
        labels_ = None if labels is None else _parse_labels(labels, owner, n_samples, None)
    else:
        if outputs is None:
            raise invalid_parameter("outputs", owner, f"a (T, N, C) array of {kind}", None)
        values = _parse_outputs(outputs, owner, kind)
        n_snapshots, n_samples, n_classes = values.shape
        labels_ = None if labels is None else _parse_labels(labels, owner, n_samples, n_classes)
    if overlaps is not None:
        if overlap_values.shape != (n_snapshots - 1, n_samples):
            raise invalid_parameter(
                "overlaps",
                owner,
                f"of shape (T-1, N) = {(n_snapshots - 1, n_samples)}",
                describe_array(overlap_values),
            )
        stability = neighbour_stability(overlap_values)
    common: dict[str, Any] = {
        "n_snapshots": n_snapshots,
        "n_samples": n_samples,
        "kind": kind,
        "neighbour_stability": stability,
    }
    if kind == "features":
        return SampleDynamics(**common, labels=labels_)

    entropy = _entropy_kernel(values, kind).astype(np.float32)
    prediction = np.argmax(values[-1], axis=-1).astype(np.int64)
    if labels_ is None:
        return SampleDynamics(**common, prediction=prediction, entropy=entropy)
    stats = _label_kernel(values, kind, labels_)
    known = labels_ >= 0
    return SampleDynamics(
        **common,
        labels=labels_,
        prediction=prediction,
        entropy=entropy,
        confidence=stats.gold_probability.mean(axis=0),
        variability=stats.gold_probability.std(axis=0),
        correctness=_correctness_fraction(stats.correct.sum(axis=0), n_snapshots, known),
        forgetting_events=_forgetting_from_correct(stats.correct),
        never_learned=~stats.correct.any(axis=0) & known,
        aum=stats.margin.mean(axis=0),
        first_learned=_first_learned_from_correct(stats.correct),
    )


@functools.wraps(dynamics_from_outputs)  # the same signature, for help() and inspect
def sample_dynamics(*args: Any, **kwargs: Any) -> SampleDynamics:
    warnings.warn(
        "reprdynamics.analysis.dynamics.sample_dynamics is deprecated: call it "
        "dynamics_from_outputs (outputs as arrays), or reprdynamics.sample_dynamics for a run.",
        DeprecationWarning,
        stacklevel=2,
    )
    return dynamics_from_outputs(*args, **kwargs)


sample_dynamics.__name__ = sample_dynamics.__qualname__ = "sample_dynamics"
sample_dynamics.__doc__ = """Deprecated name of :func:`dynamics_from_outputs` (it shared its name
with :func:`reprdynamics.sample_dynamics`, which takes a run and returns a ``SampleTable``)."""
