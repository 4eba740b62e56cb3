"""The ``"auto"`` backend: whichever exact backend a measured cost model says is fastest."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from reprdynamics.analysis.neighbours._faiss import _faiss_available
from reprdynamics.analysis.neighbours.exact import ExactKNNIndex
from reprdynamics.analysis.neighbours.faiss_flat import FaissKNNIndex
from reprdynamics.analysis.neighbours.index import KNNIndex
from reprdynamics.analysis.neighbours.kdtree import KDTreeKNNIndex

#: Cost of faiss's flat search per (query, data row) pair on one thread, in nanoseconds:
#: ``a + b * D``, and the speed-up of each further thread. Measured with
#: ``benchmarks/bench_scale.py`` on a 2-core Xeon (AVX-512, OpenBLAS): 1.23 ns at D=10
#: and 7.7 ns at D=512 on one thread; 2 threads ran 1.7x faster. Only the ratio to the
#: k-d tree's measured probe matters, so the figures need not be exact on other machines.
_FLAT_NS_PER_PAIR = (1.10, 0.0129)
_FLAT_THREAD_EFFICIENCY = 0.7


def brute_force_seconds(n_data: int, n_queries: int, n_features: int, threads: int = 1) -> float:
    """Predicted seconds of an exact flat (brute-force) search: ``m n (a + b D) / speed-up``.

    Examples
    --------
    >>> round(brute_force_seconds(50_000, 50_000, 10, threads=2), 1)
    1.8
    """
    a, b = _FLAT_NS_PER_PAIR
    speedup = 1.0 + _FLAT_THREAD_EFFICIENCY * (max(1, threads) - 1)
    return n_data * n_queries * (a + b * n_features) * 1e-9 / speedup


class AutoKNNIndex(KNNIndex):
    """Exact neighbours from whichever exact backend a measured cost model says is fastest.

    The candidates are faiss's flat index (:class:`FaissKNNIndex`, or the NumPy backend
    without faiss), whose cost is predictable, ``m n (a + b D)`` divided by the threads'
    speed-up (:func:`brute_force_seconds`, constants measured), and the k-d tree
    (:class:`KDTreeKNNIndex`), whose cost depends on how clustered the data is, anywhere
    from ``~ m log n`` to worse than brute force. Fixed thresholds cannot tell the tree's
    good cases from its bad ones, so the first query *measures* it: the tree is built and
    answers ``probe_queries`` random query rows (a quarter first: a tree that looks four
    times slower than the flat search on those is not probed further) with the real k and
    thread count, and that time is scaled to all ``m`` queries (build included). The tree
    is used when it is predicted at least 10% faster. Problems too small for the probe to
    pay off (fewer than ``min_probe_samples`` rows) and data of more than
    ``max_tree_features`` dimensions (where k-d trees degrade to brute force) go to the
    flat search without a probe. Every candidate is exact with the same tie rule, so the
    choice never changes the answer, only the time.

    After :meth:`query`, ``chosen_`` is the backend used and ``estimates_`` the predicted
    seconds per backend name (empty when nothing was probed).
    """

    name: ClassVar[str] = "auto"
    exact: ClassVar[bool] = True

    def __init__(
        self,
        *,
        probe_queries: int = 1024,
        min_probe_samples: int = 8_000,
        max_tree_features: int = 16,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.probe_queries = probe_queries
        self.min_probe_samples = min_probe_samples
        self.max_tree_features = max_tree_features
        self.n_threads = n_threads
        self.seed = seed

    def build(self, data: np.ndarray) -> AutoKNNIndex:
        self._prepare_build(data)
        self.chosen_: KNNIndex | None = None
        self.estimates_: dict[str, float] = {}
        return self

    def _choose(self, q: np.ndarray, k: int) -> KNNIndex:
        import time

        n, dim = self.data_.shape
        m = q.shape[0]
        threads = self._threads()
        brute: KNNIndex = FaissKNNIndex() if _faiss_available() else ExactKNNIndex()
        brute.n_threads = self.n_threads
        self.estimates_[brute.name] = brute_force_seconds(n, m, dim, threads)
        if dim > self.max_tree_features or n < self.min_probe_samples:
            return brute.build(self.data_)
        from scipy.spatial import cKDTree  # noqa: F401  (imported before the clock starts)

        tree = KDTreeKNNIndex()
        tree.n_threads = self.n_threads
        start = time.perf_counter()
        tree.build(self.data_)
        built = time.perf_counter() - start
        order = np.random.default_rng(self.seed).permutation(m)
        flat_cost = self.estimates_[brute.name]
        per_query = 0.0
        # A quarter of the probe first: small probes overstate the tree's cost (measured
        # about 2x at 256 rows), so a tree that looks four times slower than the flat
        # search even then is rejected without the rest.
        for size in (max(1, int(self.probe_queries) // 4), int(self.probe_queries)):
            probe = q[np.sort(order[: min(m, size)])]
            start = time.perf_counter()
            tree.query(probe, k)
            per_query = (time.perf_counter() - start) / probe.shape[0]
            if built + per_query * m > 4.0 * flat_cost or probe.shape[0] == m:
                break
        self.estimates_[tree.name] = built + per_query * m
        # The brute-force figure is a model (within about 15% here); the tree's is measured.
        if self.estimates_[tree.name] < 0.9 * self.estimates_[brute.name]:
            return tree
        return brute.build(self.data_)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._prepare_query(queries, k)
        if self.chosen_ is None:
            self.chosen_ = self._choose(q, k)
            self.name = self.chosen_.name  # type: ignore[misc]  # results name the backend used
        return self.chosen_.query(q, k)

    def _query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.query(q, k)
