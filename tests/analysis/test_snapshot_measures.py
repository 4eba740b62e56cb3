"""The per-snapshot measures, the class transitions between two snapshots and the local
view's neighbours, now in analysis/: hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis.local import nearest_rows
from reprdynamics.analysis.neighbours import k_nearest_neighbours
from reprdynamics.analysis.snapshot_measures import MEASURES, measure_at, measure_values
from reprdynamics.analysis.transitions import class_transitions


def test_measures_of_two_logit_rows_by_hand():
    z = np.array([[2.0, 0.0], [0.0, 2.0], [np.nan, np.nan], [1.0, 1.0]])
    labels = np.array([0, 0, 0, -1])
    p = 1 / (1 + np.exp(-2.0))  # softmax of (2, 0) at 0
    conf = measure_values(z, labels, "confidence", "logits")
    np.testing.assert_allclose(conf[:2], [p, 1 - p])
    assert np.isnan(conf[2:]).all()  # not recorded; unknown label
    np.testing.assert_allclose(measure_values(z, labels, "margin", "logits")[:2], [2.0, -2.0])
    np.testing.assert_array_equal(measure_values(z, labels, "correct", "logits")[:2], [1, 0])
    np.testing.assert_allclose(measure_values(z, labels, "loss", "logits")[:2], -np.log([p, 1 - p]))
    entropy = measure_values(z, labels, "entropy", "logits")
    assert entropy[3] == pytest.approx(np.log(2)) and np.isnan(entropy[2])
    probs = np.array([[0.75, 0.25]])
    assert measure_values(probs, np.array([1]), "loss", "probabilities")[0] == pytest.approx(
        -np.log(0.25)
    )


def test_measure_at_reads_the_snapshot_of_the_selection(tmp_path):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, 12, 3))
    labels = rng.integers(0, 3, 12)
    with rd.Recorder(tmp_path / "r", n_samples=12, labels=labels) as rec:
        for t in range(2):
            rec.store_batch(z[t], ids=np.arange(12), epoch=t)
    run = rd.open_run(tmp_path / "r")
    ids = np.array([1, 5, 7])
    for name in MEASURES:
        expected = measure_values(z[1][ids], labels[ids], name, "logits")
        np.testing.assert_allclose(measure_at(run, name, 1, ids), expected, rtol=1e-6)


def test_class_transitions_count_each_recorded_sample_once(tmp_path):
    # Predictions 0,0,1,2 then 1,0,1,2: one sample moved 0 → 1.
    logits = [np.eye(3)[[0, 0, 1, 2]], np.eye(3)[[1, 0, 1, 2]]]
    with rd.Recorder(tmp_path / "r", n_samples=4, labels=[0, 0, 1, 2]) as rec:
        for t, z in enumerate(logits):
            rec.store_batch(z, ids=np.arange(4), epoch=t)
    moved = class_transitions(rd.open_run(tmp_path / "r"), 0, 1)
    assert moved.n_classes == 3 and moved.n == 4 and moved.n_excluded == 0
    np.testing.assert_array_equal(moved.matrix, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_nearest_rows_are_the_exact_search_of_that_row():
    X = np.random.default_rng(2).normal(size=(50, 4))
    X[7] = X[3]  # a tie at distance 0: broken by id, as the exact search does
    full = k_nearest_neighbours(X, 6)
    for pos in (0, 3, 7, 49):
        idx, dist = nearest_rows(X, pos, 6)
        np.testing.assert_array_equal(idx, full.indices[pos])
        np.testing.assert_allclose(dist, np.linalg.norm(X[idx] - X[pos], axis=1), atol=1e-6)
