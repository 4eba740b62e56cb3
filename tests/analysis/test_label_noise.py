"""On a real demo run with flipped labels, AUM and cartography must find the flips."""

from __future__ import annotations

import numpy as np
import pytest

import reprdynamics as rd

pytest.importorskip("torch")


def _auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(scores.size)
    ranks[order] = np.arange(1, scores.size + 1)
    # average ranks of ties
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    n_pos = positives.sum()
    n_neg = positives.size - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    from reprdynamics.demo import run_demo

    path = tmp_path_factory.mktemp("noise") / "run"
    run_demo(path, epochs=10, label_noise=0.15, seed=1, progress=lambda *_: None)
    return path


def test_aum_and_cartography_rank_flipped_labels_far_above_chance(noisy_run):
    table = rd.sample_dynamics(noisy_run, neighbour_k=None)
    flipped = table.extras["label_flipped"].astype(bool)
    chance = flipped.mean()
    assert 0.1 < chance < 0.2
    # Low AUM and low cartography confidence mean "probably mislabeled".
    assert _auc(-table["aum"], flipped) > 0.9
    assert _auc(-table["confidence"], flipped) > 0.9
    assert _auc(-table["correctness"], flipped) > 0.85
    top = table.suspected_mislabeled(int(flipped.sum()))
    assert flipped[top].mean() > 4 * chance
