"""Analyses as pure functions on arrays: neighbours, fingerprints, similarity.

Everything here takes NumPy arrays (or array-likes) and returns arrays or small frozen
dataclasses; reading runs, caching and progress reporting live one level up.
"""

from reprdynamics.analysis.fingerprints import (
    class_transition_fingerprint,
    class_transition_fingerprint_from_matrices,
    class_transition_matrices,
    class_transition_matrix,
    neighbour_jaccard,
    neighbour_overlap,
    neighbour_state_fingerprint,
    neighbour_transition_fingerprint,
    neighbour_transition_fingerprint_from_neighbours,
    neighbour_transition_overlaps,
    prediction_disagreement,
)
from reprdynamics.analysis.neighbours import (
    BACKENDS,
    ExactKNNIndex,
    FaissHNSWIndex,
    FaissKNNIndex,
    KDTreeKNNIndex,
    KNNIndex,
    NeighbourResult,
    get_backend,
    k_nearest_neighbours,
    neighbour_recall,
)
from reprdynamics.analysis.similarity import cka_fingerprint, linear_cka, linear_cka_matrix

__all__ = [
    "BACKENDS",
    "ExactKNNIndex",
    "FaissHNSWIndex",
    "FaissKNNIndex",
    "KDTreeKNNIndex",
    "KNNIndex",
    "NeighbourResult",
    "cka_fingerprint",
    "class_transition_fingerprint",
    "class_transition_fingerprint_from_matrices",
    "class_transition_matrices",
    "class_transition_matrix",
    "get_backend",
    "k_nearest_neighbours",
    "linear_cka",
    "linear_cka_matrix",
    "neighbour_jaccard",
    "neighbour_overlap",
    "neighbour_recall",
    "neighbour_state_fingerprint",
    "neighbour_transition_fingerprint",
    "neighbour_transition_fingerprint_from_neighbours",
    "neighbour_transition_overlaps",
    "prediction_disagreement",
]
