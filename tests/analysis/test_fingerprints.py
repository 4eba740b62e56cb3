"""Fingerprints: hand cases, set-based references and invariants (DESIGN section 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from reprdynamics.errors import InvalidParameterError

DESIGN_PREDICTIONS = np.array([[0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [1, 1, 1, 2, 0], [1, 1, 1, 2, 0]])


def random_neighbours(rng: np.random.Generator, t: int, n: int, k: int, pool: int) -> np.ndarray:
    """(t, n, k) neighbour ids without repeats in a row, drawn from a small pool."""
    keys = rng.random((t, n, pool))
    return np.argsort(keys, axis=2)[:, :, :k]


@st.composite
def neighbour_stacks(draw: st.DrawFn, min_snapshots: int) -> np.ndarray:
    """Stacks for :func:`random_neighbours`: t in [min_snapshots, 6], n in [1, 25], k in [1, 4],
    a pool of k + 3 ids."""
    t, n, k = draw(st.integers(min_snapshots, 6)), draw(st.integers(1, 25)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return random_neighbours(rng, t, n, k, k + 3)


# ------------------------------------------------------------------- naive references


def naive_overlap(a, b):
    return np.array([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)])


def naive_jaccard(a, b):
    return np.array(
        [len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(a, b, strict=True)]
    )


def naive_transition_fingerprint(nb):
    v = [naive_overlap(nb[t], nb[t + 1]) for t in range(len(nb) - 1)]
    m = len(v)
    return np.array([[np.sqrt(np.mean((v[a] - v[b]) ** 2)) for b in range(m)] for a in range(m)])


def naive_state_fingerprint(nb):
    t = len(nb)
    return np.array([[1 - naive_jaccard(nb[a], nb[b]).mean() for b in range(t)] for a in range(t)])


def naive_class_fingerprint(pred, n_classes):
    m = len(pred) - 1
    deltas = np.zeros((m, n_classes, n_classes))
    for t in range(m):
        for i in range(pred.shape[1]):
            deltas[t, pred[t, i], pred[t + 1, i]] += 1
    out = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            num = den = 0.0
            for c in range(n_classes):
                for c2 in range(n_classes):
                    if c != c2:
                        num += abs(deltas[a, c, c2] - deltas[b, c, c2])
                        den += deltas[a, c, c2] + deltas[b, c, c2]
            out[a, b] = num / den if den else 0.0
    return out


def check_fingerprint(d, size, upper=1.0):
    assert d.shape == (size, size) and d.dtype == np.float64
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert d.min() >= 0.0 and d.max() <= upper


# ------------------------------------------------------------------ overlap / Jaccard


def test_overlap_and_jaccard_hand_cases():
    a = [[1, 2, 3], [0, 2, 3], [4, 5, 6]]
    b = [[3, 1, 4], [5, 6, 7], [6, 5, 4]]
    np.testing.assert_allclose(neighbour_overlap(a, b), [2 / 3, 0, 1])
    np.testing.assert_allclose(neighbour_jaccard(a, b), [2 / 4, 0, 1])
    np.testing.assert_allclose(neighbour_jaccard([[1, 2]], [[2, 3, 4]]), [1 / 4])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30), k=st.integers(1, 6), extra=st.integers(0, 5), seed=st.integers(0, 2**16)
)
def test_overlap_and_jaccard_match_set_reference(n, k, extra, seed):
    rng = np.random.default_rng(seed)
    nb = random_neighbours(rng, 2, n, k, k + extra)
    np.testing.assert_allclose(neighbour_overlap(nb[0], nb[1]), naive_overlap(nb[0], nb[1]))
    np.testing.assert_allclose(neighbour_jaccard(nb[0], nb[1]), naive_jaccard(nb[0], nb[1]))
    # Equal k: J = o / (2 - o).
    o = neighbour_overlap(nb[0], nb[1])
    np.testing.assert_allclose(neighbour_jaccard(nb[0], nb[1]), o / (2 - o))


def test_overlap_ignores_order_within_rows_and_large_ids():
    a = np.array([[10**9, 5, 7]])
    b = np.array([[7, 10**9, 1]])
    assert neighbour_overlap(a, b).tolist() == [2 / 3]
    assert neighbour_overlap(a[:, ::-1], b).tolist() == [2 / 3]


@pytest.mark.parametrize(
    ("a", "b", "fragment"),
    [
        ([[1, 1]], [[1, 2]], "repeated id in row 0"),
        ([[1, 2]], [[1, 2], [3, 4]], "nk_b"),
        ([[1, 2]], [[1, 2, 3]], "nk_b"),
        ([[-1, 2]], [[1, 2]], "non-negative"),
        ([[1.0, 2.0]], [[1, 2]], "int array"),
        ([1, 2], [1, 2], "2-D"),
    ],
)
def test_overlap_validation(a, b, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        neighbour_overlap(a, b)


# ------------------------------------------------------- neighbour-transition fingerprint


def test_neighbour_transition_fingerprint_hand_case():
    # Three transitions over two samples.
    overlaps = [[1.0, 0.5], [1.0, 0.5], [0.0, 0.0]]
    d = neighbour_transition_fingerprint(overlaps)
    expected = np.sqrt((1.0 + 0.25) / 2)
    np.testing.assert_allclose(d, [[0, 0, expected], [0, 0, expected], [expected, expected, 0]])


@settings(max_examples=25, deadline=None)
@given(nb=neighbour_stacks(min_snapshots=2))
def test_neighbour_transition_fingerprint_matches_reference(nb):
    t, n, _ = nb.shape
    d = neighbour_transition_fingerprint_from_neighbours(nb)
    np.testing.assert_allclose(d, naive_transition_fingerprint(nb), atol=1e-12)
    check_fingerprint(d, t - 1)
    overlaps = neighbour_transition_overlaps(list(nb))
    assert overlaps.shape == (t - 1, n)
    np.testing.assert_array_equal(neighbour_transition_fingerprint(overlaps), d)


def test_neighbour_transition_streaming_equals_all_at_once():
    rng = np.random.default_rng(1)
    nb = random_neighbours(rng, 6, 40, 5, 12)
    streamed = np.stack([neighbour_overlap(nb[t], nb[t + 1]) for t in range(5)])
    np.testing.assert_array_equal(
        neighbour_transition_fingerprint(streamed),
        neighbour_transition_fingerprint_from_neighbours(nb),
    )


def test_neighbour_transition_permutation_invariance():
    rng = np.random.default_rng(2)
    overlaps = rng.integers(0, 6, size=(7, 50)) / 5
    perm = rng.permutation(50)
    np.testing.assert_allclose(
        neighbour_transition_fingerprint(overlaps[:, perm]),
        neighbour_transition_fingerprint(overlaps),
        atol=1e-15,
    )


@pytest.mark.parametrize(
    "overlaps", [np.zeros(3), np.zeros((0, 3)), [[0.5, 1.5]], [[np.nan, 0.5]], [[-0.1, 0.0]]]
)
def test_neighbour_transition_validation(overlaps):
    with pytest.raises(InvalidParameterError, match="'overlaps'"):
        neighbour_transition_fingerprint(overlaps)


def test_transition_overlaps_need_two_snapshots_and_equal_k():
    with pytest.raises(InvalidParameterError, match="at least 2 snapshots"):
        neighbour_transition_overlaps(np.zeros((1, 3, 1), dtype=int))
    with pytest.raises(InvalidParameterError, match="columns"):
        neighbour_transition_overlaps([np.array([[1, 2]]), np.array([[1, 2, 3]])])


# ------------------------------------------------------------- neighbour-state fingerprint


def test_neighbour_state_fingerprint_hand_case():
    nb = np.array(
        [
            [[1, 2], [0, 2], [0, 1]],
            [[1, 2], [0, 2], [0, 1]],
            [[2, 3], [3, 0], [1, 3]],
        ]
    )
    d = neighbour_state_fingerprint(nb)
    # Snapshot 2 vs 0: J = 1/3, 1/3, 1/3 per sample.
    np.testing.assert_allclose(d, [[0, 0, 2 / 3], [0, 0, 2 / 3], [2 / 3, 2 / 3, 0]])


@settings(max_examples=25, deadline=None)
@given(nb=neighbour_stacks(min_snapshots=1))
def test_neighbour_state_fingerprint_matches_reference(nb):
    d = neighbour_state_fingerprint(nb)
    np.testing.assert_allclose(d, naive_state_fingerprint(nb), atol=1e-12)
    check_fingerprint(d, len(nb))


def test_neighbour_state_fingerprint_relabelling_invariance():
    # Renaming samples (rows and the ids inside the lists) leaves the fingerprint unchanged.
    rng = np.random.default_rng(3)
    n = 60
    nb = random_neighbours(rng, 5, n, 4, n)
    perm = rng.permutation(n)
    inverse = np.argsort(perm)
    relabelled = inverse[nb[:, perm, :]]
    np.testing.assert_allclose(
        neighbour_state_fingerprint(relabelled), neighbour_state_fingerprint(nb), atol=1e-15
    )


def test_neighbour_state_fingerprint_accepts_lazy_sequence_and_varying_k():
    rng = np.random.default_rng(4)
    snaps = [random_neighbours(rng, 1, 20, k, 10)[0] for k in (2, 3, 5)]

    class Lazy:
        reads = 0

        def __len__(self):
            return len(snaps)

        def __getitem__(self, t):
            Lazy.reads += 1
            return snaps[t]

    d = neighbour_state_fingerprint(Lazy())
    assert Lazy.reads == 3
    np.testing.assert_allclose(d, naive_state_fingerprint(snaps), atol=1e-12)


def test_neighbour_state_fingerprint_validation():
    with pytest.raises(InvalidParameterError, match=r"neighbours\[1\]"):
        neighbour_state_fingerprint([np.array([[1, 2]]), np.array([[1, 2], [0, 1]])])
    with pytest.raises(InvalidParameterError, match="'neighbours'"):
        neighbour_state_fingerprint(np.zeros((3, 4), dtype=int))
    with pytest.raises(InvalidParameterError, match="repeated"):
        neighbour_state_fingerprint(np.array([[[1, 1]]]))


# ------------------------------------------------------------------ class transitions


def test_design_class_transition_example():
    d = class_transition_fingerprint(DESIGN_PREDICTIONS)
    np.testing.assert_array_equal(d, [[0, 0.5, 1], [0.5, 0, 1], [1, 1, 0]])


def test_class_transition_matrix_hand_case_and_stack():
    delta = class_transition_matrix([0, 0, 1, 1, 2], [0, 1, 1, 2, 2], 3)
    np.testing.assert_array_equal(delta, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert delta.dtype == np.int64 and delta.sum() == 5
    stack = class_transition_matrices(DESIGN_PREDICTIONS, n_classes=4)
    assert stack.shape == (3, 4, 4)
    for t in range(3):
        np.testing.assert_array_equal(
            stack[t], class_transition_matrix(DESIGN_PREDICTIONS[t], DESIGN_PREDICTIONS[t + 1], 4)
        )


@settings(max_examples=30, deadline=None)
@given(t=st.integers(2, 6), n=st.integers(1, 30), c=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_class_transition_fingerprint_matches_reference(t, n, c, seed):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, c, size=(t, n))
    d = class_transition_fingerprint(pred, n_classes=c)
    np.testing.assert_allclose(d, naive_class_fingerprint(pred, c), atol=1e-15)
    check_fingerprint(d, t - 1)
    perm = rng.permutation(n)
    np.testing.assert_array_equal(class_transition_fingerprint(pred[:, perm], n_classes=c), d)


def test_class_transition_streaming_matrices_equal_all_at_once():
    rng = np.random.default_rng(5)
    pred = rng.integers(0, 5, size=(8, 100))
    deltas = np.stack([class_transition_matrix(pred[t], pred[t + 1], 5) for t in range(7)])
    np.testing.assert_array_equal(
        class_transition_fingerprint_from_matrices(deltas), class_transition_fingerprint(pred)
    )
    # Float (e.g. normalised) matrices give the same ratios.
    np.testing.assert_allclose(
        class_transition_fingerprint_from_matrices(deltas / 100.0),
        class_transition_fingerprint(pred),
    )


def test_class_transition_no_changes_gives_zero():
    pred = np.array([[0, 1, 2]] * 4)
    np.testing.assert_array_equal(class_transition_fingerprint(pred), np.zeros((3, 3)))


def test_class_transition_validation():
    with pytest.raises(InvalidParameterError, match="'n_classes'"):
        class_transition_fingerprint(DESIGN_PREDICTIONS, n_classes=2)
    with pytest.raises(InvalidParameterError, match="at least 2 snapshots"):
        class_transition_matrices([[0, 1]])
    with pytest.raises(InvalidParameterError, match="non-negative"):
        class_transition_matrices([[0, -1], [0, 1]])
    with pytest.raises(InvalidParameterError, match=r"classes in \[0, 2\)"):
        class_transition_matrix([0, 2], [0, 1], 2)
    with pytest.raises(InvalidParameterError, match="'pred_b'"):
        class_transition_matrix([0, 1], [0, 1, 1], 2)
    with pytest.raises(InvalidParameterError, match="'deltas'"):
        class_transition_fingerprint_from_matrices(np.zeros((2, 3, 4)))
    with pytest.raises(InvalidParameterError, match="negative"):
        class_transition_fingerprint_from_matrices(-np.ones((2, 2, 2)))
    with pytest.raises(InvalidParameterError, match="int array"):
        class_transition_fingerprint(np.zeros((3, 4)))


# ---------------------------------------------------------------- prediction disagreement


def test_prediction_disagreement_hand_case():
    d = prediction_disagreement([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(d, [[0, 0.25, 0.75], [0.25, 0, 0.5], [0.75, 0.5, 0]])


@settings(max_examples=30, deadline=None)
@given(t=st.integers(1, 6), n=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_prediction_disagreement_matches_reference(t, n, seed):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, size=(t, n))
    d = prediction_disagreement(pred)
    ref = np.array([[np.mean(pred[a] != pred[b]) for b in range(t)] for a in range(t)])
    np.testing.assert_allclose(d, ref, atol=1e-15)
    check_fingerprint(d, t)
    perm = rng.permutation(n)
    np.testing.assert_allclose(prediction_disagreement(pred[:, perm]), d, atol=1e-15)
    # A normalised Hamming distance satisfies the triangle inequality.
    assert (d[:, :, None] <= d[:, None, :] + d.T[None, :, :] + 1e-12).all()


def test_prediction_disagreement_validation():
    with pytest.raises(InvalidParameterError, match="'predictions'"):
        prediction_disagreement([0, 1, 2])
    with pytest.raises(InvalidParameterError, match="'predictions'"):
        prediction_disagreement(np.zeros((2, 0), dtype=int))
