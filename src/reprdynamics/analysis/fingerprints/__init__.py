"""Training fingerprints: distance matrices between snapshots or transitions of a run.

Every function here computes on plain arrays:

* per-sample neighbour overlap ``o_t(i)`` and Jaccard index of two neighbour lists;
* the neighbour-transition fingerprint (the original ReprDynamics heat map, per sample);
* the neighbour-state fingerprint ``1 - mean_i J``;
* NNTF class-transition matrices ``Δ_t`` and their fingerprint (Ferreira et al.,
  J. Visualization 2022);
* the raw prediction-disagreement matrix.

Streaming: the per-transition pieces (:func:`neighbour_overlap`,
:func:`class_transition_matrix`) need only two consecutive snapshots, so a caller that
streams a run one snapshot at a time keeps a ``(T-1, n)`` overlap stack or a
``(T-1, C, C)`` stack of Δ's and hands it to :func:`neighbour_transition_fingerprint` or
:func:`class_transition_fingerprint_from_matrices`. The all-at-once conveniences take the
``(T, n, k)`` / ``(T, n)`` arrays.

All matrices are returned as float64 ``np.ndarray``; fingerprints are symmetric with a zero
diagonal and values in [0, 1].
"""

from reprdynamics.analysis.fingerprints.class_transitions import (
    class_transition_fingerprint,
    class_transition_fingerprint_from_matrices,
    class_transition_matrices,
    class_transition_matrix,
)
from reprdynamics.analysis.fingerprints.disagreement import prediction_disagreement
from reprdynamics.analysis.fingerprints.neighbour_sets import neighbour_jaccard, neighbour_overlap
from reprdynamics.analysis.fingerprints.neighbour_sets import (
    neighbour_overlap_counts as neighbour_overlap_counts,
)
from reprdynamics.analysis.fingerprints.neighbour_state import neighbour_state_fingerprint
from reprdynamics.analysis.fingerprints.neighbour_transition import (
    neighbour_transition_fingerprint,
    neighbour_transition_fingerprint_from_neighbours,
    neighbour_transition_overlaps,
)
from reprdynamics.analysis.fingerprints.neighbour_transition import (
    neighbour_transition_fingerprint_from_counts as neighbour_transition_fingerprint_from_counts,
)

__all__ = [
    "class_transition_fingerprint",
    "class_transition_fingerprint_from_matrices",
    "class_transition_matrices",
    "class_transition_matrix",
    "neighbour_jaccard",
    "neighbour_overlap",
    "neighbour_state_fingerprint",
    "neighbour_transition_fingerprint",
    "neighbour_transition_fingerprint_from_neighbours",
    "neighbour_transition_overlaps",
    "prediction_disagreement",
]
