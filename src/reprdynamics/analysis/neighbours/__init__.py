"""k nearest neighbours with one deterministic tie rule and interchangeable backends.

As in the original ReprDynamics tool, ``N_k(i, t)`` is the set of ids of the k nearest
*other* samples to ``i``, euclidean by default, cosine optional; exact by default, with ties
ordered by smaller distance, then smaller id. Approximate backends are an opt-in and report
their recall.

Backends follow openTSNE's ``KNNIndex`` idea: an object with ``build(data)`` and
``query(queries, k)``, chosen by name (``"exact"``, ``"faiss"``, ``"faiss-hnsw"`` alias
``"approximate"``, ``"auto"``) or passed as an instance. Every backend works in euclidean
space and returns *squared* euclidean distances; :func:`k_nearest_neighbours` maps cosine
onto euclidean space first and converts the distances it reports.

How exactness is kept with fast arithmetic: candidates are found with the expansion
``||x||^2 + ||y||^2 - 2 x.y`` (one float32 BLAS product per block of query rows, on
column-centred data), every point whose approximate value lies within a rounding-error
bound of the k-th smallest is kept, and the final order is decided on distances recomputed
directly as ``sum((x - y)^2)`` in float64. So rows that are exactly tied in float64
(duplicates, integer data) are ordered by id, and the result equals a brute-force sort on
``(distance, id)``. The exact faiss backend uses the same bound to certify its candidates
and recomputes uncertified rows with the NumPy backend.

One module per concept: the :class:`KNNIndex` interface (``index``), one module per backend
(``exact``, ``kdtree``, ``faiss_flat``, ``faiss_hnsw``, ``faiss_ivf``, ``auto``), the
backends by name (``registry``), the search itself (``search``), its result (``result``)
and recall (``recall``); the exact arithmetic they share is in ``_arithmetic``.
"""

from reprdynamics.analysis.neighbours.auto import AutoKNNIndex
from reprdynamics.analysis.neighbours.auto import brute_force_seconds as brute_force_seconds
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.faiss_flat import FaissKNNIndex
from reprdynamics.analysis.neighbours.faiss_hnsw import FaissHNSWIndex
from reprdynamics.analysis.neighbours.faiss_ivf import FaissIVFIndex
from reprdynamics.analysis.neighbours.index import KNNIndex
from reprdynamics.analysis.neighbours.kdtree import KDTreeKNNIndex
from reprdynamics.analysis.neighbours.recall import neighbour_recall
from reprdynamics.analysis.neighbours.registry import BACKENDS, get_backend
from reprdynamics.analysis.neighbours.result import NeighbourResult
from reprdynamics.analysis.neighbours.search import Metric as Metric
from reprdynamics.analysis.neighbours.search import k_nearest_neighbours

__all__ = [
    "BACKENDS",
    "AutoKNNIndex",
    "ExactKNNIndex",
    "FaissHNSWIndex",
    "FaissIVFIndex",
    "FaissKNNIndex",
    "KDTreeKNNIndex",
    "KNNIndex",
    "NeighbourResult",
    "get_backend",
    "k_nearest_neighbours",
    "neighbour_recall",
]
