"""Linear CKA and the CKA fingerprint against a Gram-matrix reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprdynamics.analysis.similarity import cka_fingerprint, linear_cka, linear_cka_matrix
from reprdynamics.errors import InvalidParameterError


def hsic_biased(K: np.ndarray, L: np.ndarray) -> float:
    """Gretton et al. 2005: tr(K H L H) / (n - 1)^2."""
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(K @ H @ L @ H)) / (n - 1) ** 2


def hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. 2012, eq. (5), on Gram matrices of raw (uncentred) data."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one = np.ones(n)
    value = (
        np.trace(K @ L)
        + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ K @ L @ one)
    )
    return float(value) / (n * (n - 3))


def reference_cka(X, Y, debiased=False):
    hsic = hsic_unbiased if debiased else hsic_biased
    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.fixture
def design_pair():
    # Same stream as DESIGN's ``np.random.seed(1337); X = randn(100, 10); Y = randn(...) + X``.
    legacy = np.random.RandomState(1337)
    X = legacy.randn(100, 10)
    Y = legacy.randn(100, 10) + X
    return X, Y


def test_design_check_values(design_pair):
    X, Y = design_pair
    assert round(linear_cka(X, Y), 5) == 0.55761
    assert round(linear_cka(X, Y, debiased=True), 5) == 0.51346


@pytest.mark.parametrize("debiased", [False, True])
def test_matches_gram_reference(design_pair, debiased):
    X, Y = design_pair
    assert linear_cka(X, Y, debiased=debiased) == pytest.approx(
        reference_cka(X, Y, debiased), rel=1e-10
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(5, 30),
    dx=st.integers(1, 40),
    dy=st.integers(1, 40),
    debiased=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_gram_reference_random_shapes(n, dx, dy, debiased, seed):
    # Covers both the feature-space (D^2 <= n^2) and the Gram (D > n) paths.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dx)) + 3.0
    Y = rng.normal(size=(n, dy)) @ rng.normal(size=(dy, dy)) - 1.0
    Y[:, : min(dx, dy)] += X[:, : min(dx, dy)]
    ref = reference_cka(X, Y, debiased)
    assert linear_cka(X, Y, debiased=debiased) == pytest.approx(ref, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_self_similarity_is_one(debiased):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    assert linear_cka(X, X, debiased=debiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances(debiased):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 8))
    Y = X[:, :5] + rng.normal(size=(60, 5))
    base = linear_cka(X, Y, debiased=debiased)
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(X @ Q, Y, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(7.5 * X, 0.01 * Y, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(X + 100.0, Y - 3.0, debiased=debiased) == pytest.approx(base, rel=1e-8)
    assert linear_cka(Y, X, debiased=debiased) == pytest.approx(base, rel=1e-12)
    # Not invariant to a general (anisotropic) linear map.
    S = np.diag(np.linspace(0.1, 10, 8))
    assert abs(linear_cka(X @ S, Y, debiased=debiased) - base) > 1e-3


def test_range_and_unrelated_representations():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(500, 5)), rng.normal(size=(500, 5))
    biased = linear_cka(X, Y)
    assert 0.0 <= biased < 0.1
    assert abs(linear_cka(X, Y, debiased=True)) < 0.05


def test_constant_representation_gives_nan():
    X = np.ones((10, 3))
    Y = np.random.default_rng(3).normal(size=(10, 3))
    assert np.isnan(linear_cka(X, Y))
    assert np.isnan(linear_cka(X, Y, debiased=True))


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "fragment"),
    [
        (np.ones(5), np.ones((5, 2)), {}, "'X'"),
        (np.ones((5, 2)), np.ones((4, 2)), {}, "5 rows"),
        (np.ones((5, 2)), np.full((5, 2), np.nan), {}, "finite"),
        (np.ones((1, 2)), np.ones((1, 2)), {}, "at least 2 rows"),
        (np.ones((3, 2)), np.ones((3, 2)), {"debiased": True}, "at least 4 rows"),
        (np.ones((3, 2), dtype=bool), np.ones((3, 2)), {}, "numeric"),
    ],
)
def test_validation(X, Y, kwargs, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        linear_cka(X, Y, **kwargs)


# ----------------------------------------------------------------------- fingerprint


def snapshots(rng, t=5, n=40):
    base = rng.normal(size=(n, 6))
    return [
        base @ rng.normal(size=(6, 4 + s)) + 0.3 * s * rng.normal(size=(n, 4 + s)) for s in range(t)
    ]


@pytest.mark.parametrize("debiased", [False, True])
def test_fingerprint_is_one_minus_pairwise_cka(debiased):
    rng = np.random.default_rng(4)
    snaps = snapshots(rng)
    d = cka_fingerprint(snaps, debiased=debiased)
    assert d.shape == (5, 5) and d.dtype == np.float64
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    for a in range(5):
        for b in range(5):
            if a != b:
                expected = 1 - linear_cka(snaps[a], snaps[b], debiased=debiased)
                assert d[a, b] == pytest.approx(expected, abs=1e-12)
    if not debiased:
        assert d.min() >= 0 and d.max() <= 1


def test_fingerprint_bounded_memory_streams_the_same_result():
    rng = np.random.default_rng(5)
    snaps = snapshots(rng, t=6)
    loads = []

    class Lazy:
        def __len__(self):
            return len(snaps)

        def __getitem__(self, t):
            loads.append(t)
            return snaps[t]

    full = linear_cka_matrix(snaps)
    # Room for ~2 snapshots: blocks of one, later snapshots streamed past each block.
    small = linear_cka_matrix(Lazy(), max_bytes=2 * snaps[-1].nbytes)
    np.testing.assert_allclose(small, full, rtol=1e-13)
    assert len(loads) > len(snaps)
    loads.clear()
    linear_cka_matrix(Lazy())
    assert sorted(loads) == list(range(6))  # everything fits: each snapshot read once


def test_fingerprint_accepts_array_and_iterator():
    rng = np.random.default_rng(6)
    stack = rng.normal(size=(4, 30, 5))
    from_array = cka_fingerprint(stack)
    np.testing.assert_array_equal(cka_fingerprint(iter(list(stack))), from_array)
    np.testing.assert_array_equal(cka_fingerprint(list(stack)), from_array)


def test_fingerprint_permutation_of_samples_and_snapshots():
    rng = np.random.default_rng(7)
    snaps = snapshots(rng)
    d = cka_fingerprint(snaps)
    perm = rng.permutation(40)
    np.testing.assert_allclose(cka_fingerprint([s[perm] for s in snaps]), d, atol=1e-12)
    order = [3, 1, 4, 0, 2]
    np.testing.assert_allclose(
        cka_fingerprint([snaps[i] for i in order]), d[np.ix_(order, order)], atol=1e-15
    )


def test_fingerprint_constant_snapshot_is_nan():
    rng = np.random.default_rng(8)
    snaps = [rng.normal(size=(10, 3)), np.zeros((10, 3)), rng.normal(size=(10, 3))]
    d = cka_fingerprint(snaps)
    assert np.isnan(d[1]).all() and np.isnan(d[:, 1]).all()
    assert np.isfinite(d[np.ix_([0, 2], [0, 2])]).all()


def test_fingerprint_validation():
    with pytest.raises(InvalidParameterError, match="at least one snapshot"):
        cka_fingerprint([])
    with pytest.raises(InvalidParameterError, match=r"snapshots\[1\]"):
        cka_fingerprint([np.ones((5, 2)), np.ones((4, 2))])
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        cka_fingerprint(np.ones((5, 2)))
    with pytest.raises(InvalidParameterError, match="'max_bytes'"):
        cka_fingerprint([np.ones((5, 2))], max_bytes=0)
    with pytest.raises(InvalidParameterError, match="at least 4 rows"):
        cka_fingerprint([np.ones((3, 2))], debiased=True)
