"""Kernels of the per-sample dynamics: any leading shape, classes on the last axis.

No validation here (the callers parse their input first). The all-at-once measures and
:class:`~reprdynamics.analysis.dynamics.DynamicsAccumulator` share these kernels, which is
why streaming gives the same numbers as the batch computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def _softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def _entropy_kernel(values: NDArray[np.float64], kind: str) -> NDArray[np.float64]:
    n_classes = values.shape[-1]
    if kind == "logits":
        # H = log Σ e^s − Σ p s with s = z − max z: exact and never evaluates log 0.
        shifted = values - values.max(axis=-1, keepdims=True)
        weights = np.exp(shifted)
        total = weights.sum(axis=-1)
        entropy = np.log(total) - (weights * shifted).sum(axis=-1) / total
    else:
        log_p = np.zeros_like(values)
        np.log(values, out=log_p, where=values > 0.0)  # 0 · log 0 = 0
        entropy = -(values * log_p).sum(axis=-1)
    return np.clip(entropy, 0.0, np.log(n_classes))


@dataclass(frozen=True, eq=False)
class _LabelStats:
    prediction: NDArray[np.int64]
    gold_probability: NDArray[np.float64]  # NaN where the label is unknown
    margin: NDArray[np.float64]  # NaN where the label is unknown
    correct: NDArray[np.bool_]  # False where the label is unknown


def _label_kernel(values: NDArray[np.float64], kind: str, labels: NDArray[np.int64]) -> _LabelStats:
    """Gold probability, logit margin and correctness; ``labels`` broadcast over leading axes."""
    known = labels >= 0
    gold = np.broadcast_to(np.where(known, labels, 0)[:, None], (*values.shape[:-1], 1))
    prediction = np.argmax(values, axis=-1)
    if kind == "logits":
        probabilities = _softmax(values)
        scores = values
    else:
        probabilities = values
        # log p differs from the logits by a per-sample constant (log Σ e^z), so margins on
        # log p equal margins on the logits that produced p. p = 0 is clipped to the smallest
        # positive float to keep the margin finite.
        scores = np.log(np.maximum(values, np.finfo(np.float64).tiny))
    gold_probability = np.take_along_axis(probabilities, gold, axis=-1)[..., 0]
    gold_score = np.take_along_axis(scores, gold, axis=-1)[..., 0]
    others = scores.copy()
    np.put_along_axis(others, gold, -np.inf, axis=-1)
    margin = gold_score - others.max(axis=-1)
    unknown = ~np.broadcast_to(known, prediction.shape)
    gold_probability[unknown] = np.nan
    margin[unknown] = np.nan
    correct = (prediction == gold[..., 0]) & ~unknown
    return _LabelStats(prediction.astype(np.int64), gold_probability, margin, correct)


def _correctness_fraction(
    correct_count: NDArray[np.int64], n_snapshots: int, known: NDArray[np.bool_]
) -> NDArray[np.float64]:
    fraction = correct_count / float(n_snapshots)
    return np.where(known, fraction, np.nan)


def _forgetting_from_correct(correct: NDArray[np.bool_]) -> NDArray[np.int64]:
    return (correct[:-1] & ~correct[1:]).sum(axis=0).astype(np.int64)


def _first_learned_from_correct(correct: NDArray[np.bool_]) -> NDArray[np.int64]:
    n_snapshots = correct.shape[0]
    incorrect = ~correct
    last_incorrect = n_snapshots - 1 - np.argmax(incorrect[::-1], axis=0)
    first = np.where(incorrect.any(axis=0), last_incorrect + 1, 0)
    # Incorrect at the last snapshot: the sample never settles.
    return np.where(first == n_snapshots, -1, first).astype(np.int64)
