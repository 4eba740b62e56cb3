"""k nearest neighbours: brute-force reference, tie rule, backends, validation."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprdynamics.analysis.fingerprints import neighbour_overlap
from reprdynamics.analysis.neighbours import (
    AutoKNNIndex,
    ExactKNNIndex,
    FaissHNSWIndex,
    FaissKNNIndex,
    KDTreeKNNIndex,
    KNNIndex,
    NeighbourResult,
    brute_force_seconds,
    get_backend,
    k_nearest_neighbours,
    neighbour_recall,
)
from reprdynamics.errors import InvalidParameterError


def naive_knn(X: np.ndarray, k: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Full distance matrix, then per row a lexsort on (distance, id) without the row."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1)
        zero = norms == 0
        unit = np.where(zero[:, None], 0.0, X / np.where(zero, 1.0, norms)[:, None])
        dist = 1.0 - unit @ unit.T
        dist[zero, :] = 1.0
        dist[:, zero] = 1.0
        dist[np.ix_(zero, zero)] = 0.0
    else:
        dist = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1))
    ids = np.arange(n)
    idx = np.empty((n, k), dtype=np.int64)
    out = np.empty((n, k))
    for i in range(n):
        order = [j for j in np.lexsort((ids, dist[i])) if j != i][:k]
        idx[i] = order
        out[i] = dist[i, order]
    return idx, out


def assert_matches_naive(
    res: NeighbourResult, X: np.ndarray, k: int, metric: str = "euclidean", **tolerance: float
) -> None:
    """The ids of ``res`` are those of :func:`naive_knn`; its distances within ``tolerance``."""
    idx, dist = naive_knn(X, k, metric)
    np.testing.assert_array_equal(res.indices, idx)
    np.testing.assert_allclose(res.distances, dist, **tolerance)


def naive_query(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(axis=-1)
    ids = np.arange(data.shape[0])
    idx = np.array([np.lexsort((ids, row))[:k] for row in d2])
    return np.take_along_axis(d2, idx, axis=1), idx


# ------------------------------------------------------------------ exact vs reference


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 4),
    k_frac=st.floats(0, 1),
    block=st.integers(1, 4000),
    seed=st.integers(0, 2**16),
)
def test_exact_matches_bruteforce_on_tied_integer_data(n, d, k_frac, block, seed):
    # Values in {-2..2}: many exactly tied distances and duplicate rows.
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
    k = 1 + int(k_frac * (n - 2))
    res = k_nearest_neighbours(X, k, backend=ExactKNNIndex(block_bytes=block))
    assert_matches_naive(res, X, k, rtol=1e-12, atol=0)


def test_duplicate_rows_are_ordered_by_id():
    X = np.array([[1.0, 1.0]] * 5 + [[0.0, 0.0]])
    res = k_nearest_neighbours(X, 3)
    assert res.indices.tolist()[:5] == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2]]
    assert res.distances[:5].max() == 0.0
    assert res.indices[5].tolist() == [0, 1, 2]


def test_equidistant_ring_ties_by_id():
    # 0 at the centre, 1..4 on the unit circle: every point on the circle is at distance 1
    # from the centre and sqrt(2) from its two neighbours.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    res = k_nearest_neighbours(X, 3)
    assert res.indices.tolist() == [[1, 2, 3], [0, 2, 4], [0, 1, 3], [0, 2, 4], [0, 1, 3]]
    np.testing.assert_allclose(res.distances[1], [1.0, np.sqrt(2), np.sqrt(2)])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_data_matches_reference(metric, dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 7)).astype(dtype)
    res = k_nearest_neighbours(X, 9, metric=metric)
    assert_matches_naive(res, X, 9, metric, rtol=1e-9, atol=1e-12)
    assert res.indices.dtype == np.int64 and res.distances.dtype == np.float64
    assert res.metric == metric and res.exact and res.recall is None


def test_far_from_origin_and_close_together():
    # Norms ~1e6, distances ~1e-3: the expansion formula alone would be useless here.
    rng = np.random.default_rng(5)
    X = 1e6 + rng.normal(scale=1e-3, size=(200, 5))
    res = k_nearest_neighbours(X, 5)
    assert_matches_naive(res, X, 5, rtol=1e-6)


def test_mixed_scales_and_float64_compute():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(120, 4)) * np.array([1e-3, 1.0, 1e3, 10.0])
    expected, _ = naive_knn(X, 6)
    for dtype in ("float32", "float64"):
        res = k_nearest_neighbours(X, 6, backend=ExactKNNIndex(compute_dtype=dtype))
        np.testing.assert_array_equal(res.indices, expected)


def test_k_equals_n_minus_one_lists_everyone_else():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, 3))
    res = k_nearest_neighbours(X, 11)
    for i, row in enumerate(res.indices):
        assert sorted(row) == [j for j in range(12) if j != i]
    assert (np.diff(res.distances, axis=1) >= 0).all()


def test_permuting_samples_permutes_results():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(80, 5))
    perm = rng.permutation(80)
    base = k_nearest_neighbours(X, 6)
    permuted = k_nearest_neighbours(X[perm], 6)
    np.testing.assert_array_equal(perm[permuted.indices], base.indices[perm])
    np.testing.assert_allclose(permuted.distances, base.distances[perm], rtol=1e-12)


# ------------------------------------------------------------------------------ cosine


def test_cosine_scaled_duplicates_tie_at_zero_and_break_by_id():
    X = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [4.0, 0.0], [1.0, 1.0]])
    res = k_nearest_neighbours(X, 2, metric="cosine")
    assert res.indices[0].tolist() == [1, 3]
    assert res.distances[0].tolist() == [0.0, 0.0]
    assert res.indices[2].tolist() == [4, 0]
    np.testing.assert_allclose(res.distances[2], [1 - np.sqrt(0.5), 1.0])


def test_cosine_distance_is_one_minus_cos_and_scale_free():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, 4))
    scales = rng.uniform(0.1, 10, size=(60, 1))
    a = k_nearest_neighbours(X, 5, metric="cosine")
    b = k_nearest_neighbours(X * scales, 5, metric="cosine")
    np.testing.assert_array_equal(a.indices, b.indices)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = np.einsum("ij,ikj->ik", unit, unit[a.indices])
    np.testing.assert_allclose(a.distances, 1 - cos, atol=1e-12)
    assert a.distances.min() >= 0 and a.distances.max() <= 2


def test_cosine_zero_rows_defined_behaviour():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [1.0, 0.1]])
    res = k_nearest_neighbours(X, 3, metric="cosine")
    # Zero rows: 0 from each other, 1 from every non-zero row (ties by id).
    assert res.indices[0].tolist() == [2, 1, 3]
    np.testing.assert_array_equal(res.distances[0], [0.0, 1.0, 1.0])
    # Non-zero row 3 (along y): zero rows at distance 1 tie with the orthogonal row 1.
    assert res.indices[3].tolist() == [4, 0, 1]
    np.testing.assert_allclose(res.distances[3, 1:], [1.0, 1.0])
    idx, dist = naive_knn(X, 3, "cosine")
    np.testing.assert_allclose(res.distances, dist, atol=1e-12)


# ------------------------------------------------------------------------- index API


def test_exact_index_query_other_points_including_k_equals_n():
    rng = np.random.default_rng(10)
    data = rng.integers(0, 3, size=(30, 2)).astype(float)
    queries = rng.integers(0, 3, size=(9, 2)).astype(float)
    index = ExactKNNIndex(block_bytes=500).build(data)
    for k in (1, 7, 30):
        d2, idx = index.query(queries, k)
        ref_d2, ref_idx = naive_query(data, queries, k)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(d2, ref_d2)


def test_get_backend_by_name_and_instance():
    assert isinstance(get_backend("exact"), ExactKNNIndex)
    assert isinstance(get_backend("auto", n_samples=100), AutoKNNIndex)
    assert isinstance(get_backend("kdtree"), KDTreeKNNIndex)
    assert isinstance(get_backend("faiss-hnsw"), FaissHNSWIndex)
    assert isinstance(get_backend("approximate"), FaissHNSWIndex)
    assert isinstance(get_backend("faiss"), FaissKNNIndex)
    mine = ExactKNNIndex(block_bytes=1000)
    assert get_backend(mine) is mine
    assert issubclass(ExactKNNIndex, KNNIndex)


def test_auto_backend_is_exact():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(50, 3))
    res = k_nearest_neighbours(X, 4, backend="auto")
    # Small problems skip the probe: the flat search (faiss, or NumPy without it).
    assert res.exact and res.backend in ("faiss", "exact")
    np.testing.assert_array_equal(res.indices, naive_knn(X, 4)[0])


def test_result_is_frozen():
    res = k_nearest_neighbours(np.eye(4), 2)
    assert isinstance(res, NeighbourResult) and res.k == 2 and res.n_samples == 4
    with pytest.raises(AttributeError):
        res.k = 3  # type: ignore[misc]


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize("k", [0, 5, -1, 2.0, True, "2", None])
def test_k_out_of_range_or_wrong_type(k):
    with pytest.raises(InvalidParameterError, match=r"The 'k' parameter of k_nearest_neighbours"):
        k_nearest_neighbours(np.eye(5), k)


def test_k_error_message_template():
    with pytest.raises(ValueError) as err:
        k_nearest_neighbours(np.eye(5), 0)
    assert str(err.value) == (
        "The 'k' parameter of k_nearest_neighbours must be an int in [1, n-1=4]. Got 0 instead."
    )


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        (np.zeros(5), "2-D"),
        (np.zeros((1, 3)), "at least 2 rows"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "finite"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), "finite"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
        (np.ones((3, 2), dtype=bool), "numeric"),
        (np.zeros((3, 0)), "1 column"),
    ],
)
def test_bad_data(X, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        k_nearest_neighbours(X, 1)


def test_bad_metric_backend_recall_sample():
    X = np.eye(4)
    with pytest.raises(InvalidParameterError, match="'metric'"):
        k_nearest_neighbours(X, 1, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'backend'"):
        k_nearest_neighbours(X, 1, backend="annoy")
    with pytest.raises(InvalidParameterError, match="'recall_sample'"):
        k_nearest_neighbours(X, 1, backend="faiss-ivf", recall_sample=0)
    with pytest.raises(InvalidParameterError, match="exact"):
        k_nearest_neighbours(X, 1, recall_sample=100)
    with pytest.raises(InvalidParameterError, match="'block_bytes'"):
        k_nearest_neighbours(X, 1, backend=ExactKNNIndex(block_bytes=0))


def test_index_query_validation():
    index = ExactKNNIndex().build(np.eye(3))
    with pytest.raises(InvalidParameterError, match="3 columns"):
        index.query(np.ones((2, 2)), 1)
    with pytest.raises(InvalidParameterError, match="'k'"):
        index.query(np.ones((2, 3)), 4)
    with pytest.raises(InvalidParameterError, match="build"):
        ExactKNNIndex().query(np.ones((2, 3)), 1)


# ------------------------------------------------------------------------ recall


def test_neighbour_recall_hand_case():
    assert neighbour_recall([[1, 2], [0, 3]], [[2, 1], [0, 2]]) == 0.75
    assert neighbour_recall([[1, 2]], [[3, 4]]) == 0.0
    assert neighbour_recall([[4, 3]], [[3, 4]]) == 1.0


# ------------------------------------------------------------------------- faiss


def test_faiss_exact_backend_equals_exact():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(12)
    X = rng.normal(size=(400, 8)).astype(np.float32)
    exact = k_nearest_neighbours(X, 10)
    res = k_nearest_neighbours(X, 10, backend="faiss")
    assert res.backend == "faiss" and res.exact and res.recall is None
    np.testing.assert_array_equal(res.indices, exact.indices)
    np.testing.assert_allclose(res.distances, exact.distances, rtol=1e-12)


def test_faiss_exact_backend_keeps_tie_rule_on_duplicates():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(13)
    X = rng.integers(0, 3, size=(300, 2)).astype(float)  # only 9 distinct rows
    res = k_nearest_neighbours(X, 5, backend=FaissKNNIndex(extra_candidates=2))
    np.testing.assert_array_equal(res.indices, naive_knn(X, 5)[0])


def test_faiss_cosine_equals_exact():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(14)
    X = rng.normal(size=(300, 6))
    X[:3] = 0.0
    exact = k_nearest_neighbours(X, 7, metric="cosine")
    res = k_nearest_neighbours(X, 7, metric="cosine", backend="faiss")
    np.testing.assert_array_equal(res.indices, exact.indices)


def test_approximate_backend_reports_recall():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(15)
    X = rng.normal(size=(600, 16)).astype(np.float32)
    res = k_nearest_neighbours(X, 10, backend="approximate", recall_sample=200, seed=1)
    assert res.backend == "faiss-hnsw" and not res.exact
    assert res.recall is not None and 0.0 <= res.recall <= 1.0
    assert res.recall_sample_size == 200
    exact = k_nearest_neighbours(X, 10)
    # Recall measured on the sample is consistent with the recall over all rows.
    full = neighbour_recall(res.indices, exact.indices)
    assert abs(full - res.recall) < 0.1
    # Distances of the returned neighbours are exact and sorted.
    true = np.linalg.norm(X[:, None, :].astype(float) - X[res.indices].astype(float), axis=-1)
    np.testing.assert_allclose(res.distances, true, rtol=1e-9)
    assert (np.diff(res.distances, axis=1) >= 0).all()
    assert not (res.indices == np.arange(600)[:, None]).any()


# ------------------------------------------------------------------ larger problems


def test_subset_bound_path_with_many_ties():
    # n > 4096 makes the exact backend bound each row's k-th value from a strided subset;
    # a 31 x 31 integer grid gives every point ~4 duplicates and many tied distances.
    rng = np.random.default_rng(16)
    n, k = 4300, 6
    X = rng.integers(0, 31, size=(n, 2)).astype(np.float64)
    res = k_nearest_neighbours(X, k, backend=ExactKNNIndex(block_bytes=8 * 2**20))
    # Integer squared distances: the key d2 * n + id orders by (distance, id) exactly.
    grid = X.astype(np.int64)
    d2 = sum(np.subtract.outer(grid[:, j], grid[:, j]) ** 2 for j in range(2))
    key = d2 * n + np.arange(n)
    np.fill_diagonal(key, np.iinfo(np.int64).max)
    first = np.argpartition(key, k, axis=1)[:, :k]
    expected = np.take_along_axis(first, np.argsort(np.take_along_axis(key, first, 1), 1), 1)
    np.testing.assert_array_equal(res.indices, expected)
    np.testing.assert_array_equal(res.distances**2, np.take_along_axis(d2, expected, axis=1))


def test_kth_smallest_grouped_uneven_groups_fall_back_to_lexsort():
    from reprdynamics.analysis.neighbours._arithmetic import _kth_smallest_grouped

    rng = np.random.default_rng(17)
    sizes = np.array([3] * 2000 + [300_000] + [3] * 999)
    rows = np.repeat(np.arange(sizes.size), sizes)
    values = rng.normal(size=rows.size)
    kth = _kth_smallest_grouped(values, rows, sizes.size, 2)
    starts = np.cumsum(sizes) - sizes
    expected = [np.sort(values[s : s + c])[1] for s, c in zip(starts, sizes, strict=True)]
    np.testing.assert_array_equal(kth, expected)


# ------------------------------------------------------------------------- k-d tree


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(12, 120),
    d=st.integers(1, 5),
    k=st.integers(1, 10),
    extra=st.integers(0, 3),
    seed=st.integers(0, 10_000),
)
def test_kdtree_backend_equals_bruteforce_with_ties(n, d, k, extra, seed):
    # Small integer grids are full of equal distances: the tie rule must survive the tree.
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, d)).astype(float)
    k = min(k, n - 1)
    index = KDTreeKNNIndex(extra_candidates=extra)
    res = k_nearest_neighbours(X, k, backend=index)
    assert_matches_naive(res, X, k, atol=1e-12)
    assert res.exact and res.backend == "kdtree"


def test_kdtree_cosine_and_continuous_data_match_exact():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 6))
    for metric in ("euclidean", "cosine"):
        a = k_nearest_neighbours(X, 7, metric=metric, backend="kdtree")
        b = k_nearest_neighbours(X, 7, metric=metric, backend="exact")
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.distances, b.distances, atol=1e-12)


def test_auto_measures_the_tree_and_picks_the_faster_exact_backend():
    rng = np.random.default_rng(5)
    # Uniform 3-D points: the k-d tree is far cheaper than any brute force.
    low = rng.uniform(size=(30_000, 2))
    index = AutoKNNIndex().build(low)
    d2, idx = index.query(low, 6)
    flat = "faiss" if importlib.util.find_spec("faiss") is not None else "exact"
    assert set(index.estimates_) == {"kdtree", flat}
    # The tree's cost is measured on this (shared, noisy) machine, so which backend wins
    # is not fixed; the rule is: the tree when predicted at least 10% faster.
    tree_wins = index.estimates_["kdtree"] < 0.9 * index.estimates_[flat]
    assert index.chosen_.name == ("kdtree" if tree_wins else flat) == index.name
    ref_d2, ref_idx = ExactKNNIndex().build(low).query(low, 6)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(d2, ref_d2)
    # Many dimensions: no tree probe at all, the flat search with its modelled cost.
    high = rng.normal(size=(9000, 40))
    index = AutoKNNIndex().build(high)
    index.query(high[:50], 3)
    assert "kdtree" not in index.estimates_ and index.chosen_.name in ("faiss", "exact")


def test_brute_force_cost_model_scales_with_pairs_dimensions_and_threads():
    base = brute_force_seconds(10_000, 10_000, 10)
    assert brute_force_seconds(20_000, 10_000, 10) == pytest.approx(2 * base)
    assert brute_force_seconds(10_000, 10_000, 512) > 5 * base
    assert brute_force_seconds(10_000, 10_000, 10, threads=2) < base


def test_ivf_flat_reports_recall_and_exact_order_of_its_candidates():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(8)
    centres = rng.normal(scale=6.0, size=(10, 5))
    X = centres[rng.integers(0, 10, 4000)] + rng.normal(size=(4000, 5))
    res = k_nearest_neighbours(X, 8, backend="faiss-ivf", recall_sample=500)
    assert not res.exact and res.backend == "faiss-ivf" and res.recall_sample_size == 500
    exact = k_nearest_neighbours(X, 8)
    true_recall = float(np.mean(neighbour_overlap(res.indices, exact.indices)))
    assert 0.8 <= res.recall <= 1.0 and abs(res.recall - true_recall) < 0.05
    # The candidates are approximate, their distances exact and sorted.
    d = np.linalg.norm(X[:, None, :] - X[res.indices], axis=2)
    np.testing.assert_allclose(res.distances, d, rtol=1e-9)
    assert (np.diff(res.distances, axis=1) >= 0).all()


def test_faiss_device_falls_back_to_the_cpu_and_refuses_cuda_without_a_gpu():
    faiss = pytest.importorskip("faiss")
    from reprdynamics.analysis.neighbours import FaissIVFIndex

    X = np.random.default_rng(2).normal(size=(500, 4))
    index = FaissIVFIndex(device="auto").build(X)
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    assert index.device_ == ("cuda" if gpus else "cpu")
    if not gpus:
        with pytest.raises(InvalidParameterError, match="faiss-gpu"):
            FaissIVFIndex(device="cuda").build(X)
    with pytest.raises(InvalidParameterError, match="'device'"):
        FaissIVFIndex(device="tpu").build(X)


def test_a_block_of_query_rows_equals_those_rows_of_the_full_answer():
    rng = np.random.default_rng(12)
    X = rng.integers(-2, 3, size=(300, 3)).astype(float)  # many ties
    full = k_nearest_neighbours(X, 6, backend="auto")
    part = k_nearest_neighbours(X, 6, backend="auto", rows=slice(100, 220))
    np.testing.assert_array_equal(part.indices, full.indices[100:220])
    np.testing.assert_array_equal(part.distances, full.distances[100:220])
    with pytest.raises(InvalidParameterError, match="'rows'"):
        k_nearest_neighbours(X, 6, rows=slice(5, 5))


def test_candidate_and_pair_distances_are_bit_identical():
    from reprdynamics.analysis.neighbours._arithmetic import (
        _candidate_sq_distances,
        _pair_sq_distances,
    )

    rng = np.random.default_rng(0)
    for dim in (3, 10, 129):
        X = rng.normal(size=(200, dim)).astype(np.float32)
        cand = rng.integers(0, 200, size=(200, 7))
        a = _candidate_sq_distances(X, X, cand, n_threads=2)
        b = _pair_sq_distances(X, X, np.repeat(np.arange(200), 7), cand.ravel()).reshape(200, 7)
        np.testing.assert_array_equal(a, b)
        c = _candidate_sq_distances(X.astype(np.float64), X.astype(np.float64), cand)
        np.testing.assert_array_equal(a, c)  # float32 data loses nothing
