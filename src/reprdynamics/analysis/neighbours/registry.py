"""The backends by name, and the parsing of a name or instance into a backend."""

from __future__ import annotations

from reprdynamics.analysis.neighbours.auto import AutoKNNIndex
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.faiss_flat import FaissKNNIndex
from reprdynamics.analysis.neighbours.faiss_hnsw import FaissHNSWIndex
from reprdynamics.analysis.neighbours.faiss_ivf import FaissIVFIndex
from reprdynamics.analysis.neighbours.index import KNNIndex
from reprdynamics.analysis.neighbours.kdtree import KDTreeKNNIndex
from reprdynamics.errors import invalid_parameter

#: Backend names accepted by :func:`get_backend` and :func:`k_nearest_neighbours`.
BACKENDS: dict[str, type[KNNIndex]] = {
    "exact": ExactKNNIndex,
    "kdtree": KDTreeKNNIndex,
    "faiss": FaissKNNIndex,
    "faiss-hnsw": FaissHNSWIndex,
    "faiss-ivf": FaissIVFIndex,
    "approximate": FaissHNSWIndex,
    "auto": AutoKNNIndex,
}


def get_backend(
    backend: str | KNNIndex = "exact",
    *,
    n_samples: int | None = None,
    n_features: int | None = None,
) -> KNNIndex:
    """Parse a backend name or instance into an (unbuilt) :class:`KNNIndex`.

    Parameters
    ----------
    backend : {"exact", "kdtree", "faiss", "faiss-hnsw", "approximate", "auto"} or KNNIndex
        ``"auto"`` gives an :class:`AutoKNNIndex`, which measures the exact backends on a
        probe of the real queries and uses the fastest; the result is exact in every case.
    n_samples, n_features : int, optional
        Accepted for compatibility; the ``"auto"`` choice is measured, not read off sizes.
    """
    if isinstance(backend, KNNIndex):
        return backend
    if isinstance(backend, str) and backend in BACKENDS:
        return BACKENDS[backend]()
    names = ", ".join(repr(b) for b in BACKENDS)
    raise invalid_parameter(
        "backend", "k_nearest_neighbours", f"one of {names} or a KNNIndex instance", backend
    )
