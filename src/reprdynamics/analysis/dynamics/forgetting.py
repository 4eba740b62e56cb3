"""Forgetting events and the snapshot from which a sample stays learned (Toneva et al. 2019).

M. Toneva, A. Sordoni, R. Tachet des Combes, A. Trischler, Y. Bengio, G. J. Gordon, "An
Empirical Study of Example Forgetting during Deep Neural Network Learning", ICLR 2019.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis.dynamics._kernels import (
    _first_learned_from_correct,
    _forgetting_from_correct,
)
from reprdynamics.analysis.dynamics._parsing import _parse_labels, _parse_predictions


@dataclass(frozen=True, eq=False)
class Forgetting:
    """Forgetting events of each sample (Toneva et al. 2019).

    Attributes
    ----------
    events : ndarray of int64, shape (N,)
        Number of correct → incorrect transitions between consecutive snapshots; 0 where the
        label is unknown.
    never_learned : ndarray of bool, shape (N,)
        True for samples (with a known label) that are correct at no snapshot. Toneva et al.
        count these as forgotten infinitely often; here the count stays 0 and this flag says so.
    """

    events: NDArray[np.int64]
    never_learned: NDArray[np.bool_]


def forgetting_events(predictions: ArrayLike, labels: ArrayLike | None) -> Forgetting:
    """Forgetting events per sample (Toneva et al. 2019, "An Empirical Study of Example
    Forgetting during Deep Neural Network Learning").

    ``events_i = #{t ∈ [0, T−2] : ŷ_t(i) = gold_i and ŷ_{t+1}(i) ≠ gold_i}``; a sample with a
    known label that is correct at no snapshot is flagged ``never_learned`` (its count stays 0,
    where Toneva et al. would say "forgotten infinitely often"). Unknown labels (-1): 0 events,
    not flagged.

    Parameters
    ----------
    predictions : array-like, shape (T, N) of ints or (T, N, C) of outputs
        Predicted classes per snapshot, or logits/probabilities (argmax is taken).
    labels : array-like of int, shape (N,)

    Examples
    --------
    >>> f = forgetting_events([[0, 1], [1, 1], [0, 1], [1, 1]], [0, 0])
    >>> f.events.tolist(), f.never_learned.tolist()
    ([2, 0], [False, True])
    """
    predicted, n_classes = _parse_predictions(predictions, "forgetting_events")
    labels_ = _parse_labels(labels, "forgetting_events", predicted.shape[1], n_classes)
    known = labels_ >= 0
    correct = (predicted == labels_) & known
    return Forgetting(
        events=_forgetting_from_correct(correct), never_learned=~correct.any(axis=0) & known
    )


def first_learned(predictions: ArrayLike, labels: ArrayLike | None) -> NDArray[np.int64]:
    """First snapshot after which each sample stays correct.

    ``first_learned_i = min{t : ŷ_s(i) = gold_i for every s ≥ t}``, and ``-1`` when the sample
    is wrong at the last snapshot (or its label is unknown). Compare Toneva et al. 2019's
    "learned" samples.

    Parameters
    ----------
    predictions : array-like, shape (T, N) of ints or (T, N, C) of outputs
    labels : array-like of int, shape (N,)

    Examples
    --------
    >>> first_learned([[0, 0, 1], [1, 0, 1], [0, 0, 1]], [0, 0, 0]).tolist()
    [2, 0, -1]
    """
    predicted, n_classes = _parse_predictions(predictions, "first_learned")
    labels_ = _parse_labels(labels, "first_learned", predicted.shape[1], n_classes)
    correct = (predicted == labels_) & (labels_ >= 0)
    return _first_learned_from_correct(correct)
