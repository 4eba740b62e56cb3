"""Tests of the projection over time (reprdynamics.analysis.projection)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reprdynamics.analysis.projection import (
    Projection,
    _BottomKSample,
    fit_projection,
    project_over_time,
)
from reprdynamics.errors import InvalidParameterError, NotEnoughSnapshotsError


def _anisotropic(seed: int, t: int = 4, n: int = 500, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Snapshots with most variance along one known unit axis ``v``."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=d)
    axis /= np.linalg.norm(axis)
    along = rng.normal(scale=10.0, size=(t, n, 1)) * axis
    noise = rng.normal(scale=0.5, size=(t, n, d))
    offset = rng.normal(scale=3.0, size=d)
    return along + noise + offset, axis


def _reference_pca(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain SVD PCA with the same sign convention."""
    mean = rows.mean(axis=0)
    _, s, vt = np.linalg.svd(rows - mean, full_matrices=False)
    comps = vt[:k]
    pivots = comps[np.arange(k), np.argmax(np.abs(comps), axis=1)]
    comps = comps * np.sign(pivots)[:, None]
    return mean, comps, (s**2 / (s**2).sum())[:k]


def test_recovers_principal_axis() -> None:
    X, axis = _anisotropic(0)
    projection = fit_projection(X)
    assert isinstance(projection, Projection)
    assert projection.components_.shape == (2, 6)
    assert abs(projection.components_[0] @ axis) > 0.999
    assert projection.explained_variance_ratio_[0] > 0.9
    # Orthonormal axes.
    np.testing.assert_allclose(
        projection.components_ @ projection.components_.T, np.eye(2), atol=1e-12
    )
    # The mean is that of every row.
    np.testing.assert_allclose(projection.mean_, X.reshape(-1, 6).mean(axis=0), atol=1e-12)
    assert projection.n_samples_seen_ == projection.n_fit_rows_ == 2000


@pytest.mark.parametrize("shape", [(3, 50, 4), (2, 5, 12)])  # eigh path and SVD path (D > rows)
def test_matches_reference_pca(shape: tuple[int, int, int]) -> None:
    X = np.random.default_rng(1).normal(size=shape) * np.linspace(3.0, 0.5, shape[2])
    rows = X.reshape(-1, shape[2])
    mean, comps, ratio = _reference_pca(rows, 3)
    projection = fit_projection(X, 3, max_fit_rows=None)
    np.testing.assert_allclose(projection.mean_, mean, atol=1e-12)
    np.testing.assert_allclose(projection.components_, comps, atol=1e-8)
    np.testing.assert_allclose(projection.explained_variance_ratio_, ratio, atol=1e-12)
    np.testing.assert_allclose(
        projection.explained_variance_, ratio * ((rows - mean) ** 2).sum() / (rows.shape[0] - 1)
    )


def test_same_map_for_every_snapshot() -> None:
    X, _ = _anisotropic(2, t=3, n=100)
    X[2, 7] = X[0, 7]  # the same point in snapshots 0 and 2
    X[1, 3] = X[0, 50]  # and a point of snapshot 0 reappearing as another sample
    positions = project_over_time(X)
    assert positions.shape == (3, 100, 2)
    assert positions.dtype == np.float32
    np.testing.assert_array_equal(positions[2, 7], positions[0, 7])
    np.testing.assert_array_equal(positions[1, 3], positions[0, 50])
    projection = fit_projection(X)
    for t in range(3):
        np.testing.assert_allclose(positions[t], projection.transform(X[t]), rtol=1e-6, atol=1e-5)
    # transform accepts any leading shape.
    np.testing.assert_allclose(projection.transform(X)[1], projection.transform(X[1]))
    np.testing.assert_allclose(projection.transform(X[0, 0]), projection.transform(X[0])[0])


@settings(max_examples=30, deadline=None)
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(2, 5)),
        elements=st.floats(-100, 100),
    ),
    max_fit_rows=st.one_of(st.none(), st.integers(2, 20)),
)
def test_explained_variance_ratio_in_unit_interval(X: np.ndarray, max_fit_rows: int | None) -> None:
    k = 2
    n_rows = (
        X.shape[0] * X.shape[1]
        if max_fit_rows is None
        else min(max_fit_rows, X.shape[0] * X.shape[1])
    )
    if min(n_rows, X.shape[2]) < k:
        with pytest.raises(InvalidParameterError, match="'n_components'"):
            fit_projection(X, k, max_fit_rows=max_fit_rows)
        return
    projection = fit_projection(X, k, max_fit_rows=max_fit_rows)
    ratio = projection.explained_variance_ratio_
    assert ((ratio >= 0) & (ratio <= 1)).all()
    assert ratio.sum() <= 1 + 1e-9
    assert ratio[0] >= ratio[1] - 1e-9
    assert np.isfinite(projection.components_).all()
    # The largest-|value| loading of each axis is positive.
    pivots = projection.components_[[0, 1], np.argmax(np.abs(projection.components_), axis=1)]
    assert (pivots >= 0).all()


def test_constant_data_has_zero_ratio() -> None:
    projection = fit_projection(np.ones((2, 10, 3)))
    np.testing.assert_array_equal(projection.explained_variance_ratio_, [0.0, 0.0])
    np.testing.assert_array_equal(project_over_time(np.ones((2, 10, 3)), projection), 0.0)


def test_subsampled_fit_close_to_full_fit() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 2000, 6)) * np.array([5.0, 3.0, 1.0, 1.0, 0.5, 0.5])
    full = fit_projection(X, max_fit_rows=None)
    sub = fit_projection(X, max_fit_rows=2000, seed=4)
    assert sub.n_fit_rows_ == 2000
    assert sub.n_samples_seen_ == 10_000
    np.testing.assert_allclose(sub.mean_, full.mean_)  # the mean is exact either way
    for a, b in zip(sub.components_, full.components_, strict=True):
        assert a @ b > 0.99  # same axes, same sign
    np.testing.assert_allclose(
        sub.explained_variance_ratio_, full.explained_variance_ratio_, atol=0.03
    )


def test_deterministic_with_seed() -> None:
    X, _ = _anisotropic(5, t=6, n=300)
    a = fit_projection(X, max_fit_rows=500, seed=7)
    b = fit_projection(X, max_fit_rows=500, seed=7)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.explained_variance_ratio_, b.explained_variance_ratio_)
    np.testing.assert_array_equal(
        project_over_time(X, max_fit_rows=500, seed=7), project_over_time(X, a)
    )
    c = fit_projection(X, max_fit_rows=500, seed=8)
    assert not np.array_equal(a.explained_variance_ratio_, c.explained_variance_ratio_)


def test_sign_convention_is_stable_under_negation() -> None:
    X, _ = _anisotropic(6)
    a, b = fit_projection(X, max_fit_rows=None), fit_projection(-X, max_fit_rows=None)
    np.testing.assert_allclose(b.components_, a.components_, atol=1e-10)
    np.testing.assert_allclose(project_over_time(-X, b), -project_over_time(X, a), atol=1e-4)


def test_streaming_fit_equals_array_fit() -> None:
    X, _ = _anisotropic(7, t=5, n=200)
    from_array = fit_projection(X, max_fit_rows=300, seed=1)
    from_generator = fit_projection((x for x in X), max_fit_rows=300, seed=1)
    from_list = fit_projection(list(X), max_fit_rows=300, seed=1)
    for other in (from_generator, from_list):
        np.testing.assert_array_equal(other.components_, from_array.components_)
        np.testing.assert_array_equal(other.mean_, from_array.mean_)
    # Snapshots of different sizes can be streamed for fitting.
    ragged = fit_projection([X[0], X[1, :17], X[2, :0]], max_fit_rows=None)
    assert ragged.n_samples_seen_ == 217


def test_float32_input_and_single_snapshot() -> None:
    X, axis = _anisotropic(8, t=1, n=400)
    projection = fit_projection(X[0].astype(np.float32))  # one (N, D) snapshot
    assert abs(projection.components_[0] @ axis) > 0.999
    assert project_over_time(X.astype(np.float16)).shape == (1, 400, 2)


def test_bottom_k_sample_is_uniform_over_snapshots() -> None:
    sampler = _BottomKSample(1000, np.random.default_rng(0))
    for t in range(10):
        sampler.add(np.full((1000, 1), float(t)))
    sample = sampler.sample()
    assert sample.shape == (1000, 1)
    counts = np.bincount(sample[:, 0].astype(int), minlength=10)
    # Uniform: about 100 rows from each snapshot (binomial sd ≈ 9.5), not all from the first.
    assert counts.min() > 60 and counts.max() < 140
    # No row is kept twice: rows carry unique ids.
    ids = _BottomKSample(50, np.random.default_rng(1))
    for start in range(0, 1000, 37):
        ids.add(np.arange(start, min(start + 37, 1000), dtype=float)[:, None])
    kept = ids.sample()[:, 0]
    assert len(np.unique(kept)) == 50


def test_errors() -> None:
    X = np.random.default_rng(9).normal(size=(3, 10, 4))
    with pytest.raises(InvalidParameterError, match="'n_components'"):
        fit_projection(X, 0)
    with pytest.raises(InvalidParameterError, match=r"'n_components'.*\[1, 4\]"):
        fit_projection(X, 5)
    with pytest.raises(InvalidParameterError, match="'max_fit_rows'"):
        fit_projection(X, max_fit_rows=0)
    with pytest.raises(InvalidParameterError, match="'seed'"):
        fit_projection(X, seed=-1)
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        fit_projection(np.zeros(5))
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        fit_projection(42)
    with pytest.raises(InvalidParameterError, match="D=4"):
        fit_projection([X[0], X[1, :, :3]])
    bad = X.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(InvalidParameterError, match="finite"):
        fit_projection(bad)
    with pytest.raises(NotEnoughSnapshotsError):
        fit_projection([])
    with pytest.raises(NotEnoughSnapshotsError):
        fit_projection(np.zeros((2, 0, 3)))
    projection = fit_projection(X)
    with pytest.raises(InvalidParameterError, match="'X'"):
        projection.transform(np.zeros((3, 5)))
    with pytest.raises(InvalidParameterError, match="one-shot generator"):
        project_over_time(x for x in X)
    with pytest.raises(InvalidParameterError, match="same N=10"):
        project_over_time([X[0], X[1, :5]], projection)
    with pytest.raises(InvalidParameterError, match="'projection'"):
        project_over_time(X, "pca")
    with pytest.raises(NotEnoughSnapshotsError):
        project_over_time([], projection)
    # A generator is fine once a projection is given.
    assert project_over_time((x for x in X), projection).shape == (3, 10, 2)
