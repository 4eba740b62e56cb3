"""Data-map regions and the per-sample comparison of two runs: hand-checked cases and
invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reprdynamics as rd
from reprdynamics.analysis.cartography import (
    CONFIDENCE_THRESHOLD,
    REGIONS,
    VARIABILITY_THRESHOLD,
    cartography_regions,
    region_counts,
)
from reprdynamics.analysis.comparison import compare_samples
from reprdynamics.errors import InvalidParameterError


def test_regions_by_hand() -> None:
    confidence = [0.9, 0.9, 0.2, 0.5, 0.49, 0.3, np.nan]
    variability = [0.05, 0.2, 0.1, 0.0, 0.19999, 0.45, 0.1]
    assert cartography_regions(confidence, variability).tolist() == [0, 1, 2, 0, 2, 1, -1]
    assert REGIONS[0] == "easy-to-learn" and REGIONS[1] == "ambiguous"
    assert region_counts([0, 1, 2, 0, 2, 1, -1]) == {
        "easy-to-learn": 2,
        "ambiguous": 2,
        "hard-to-learn": 2,
    }


@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 0.5)), min_size=1, max_size=50),
    st.floats(0, 0.5),
    st.floats(0, 1),
)
def test_regions_follow_the_rule(points, vt, ct) -> None:
    conf, var = (np.array(v) for v in zip(*points, strict=True))
    regions = cartography_regions(conf, var, variability_threshold=vt, confidence_threshold=ct)
    assert np.all((regions == 1) == (var >= vt))
    assert np.all(regions[(var < vt) & (conf >= ct)] == 0)
    assert np.all(regions[(var < vt) & (conf < ct)] == 2)
    assert sum(region_counts(regions).values()) == len(points)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"variability_threshold": 0.7}, "variability_threshold"),
        ({"confidence_threshold": -0.1}, "confidence_threshold"),
        ({"confidence_threshold": True}, "confidence_threshold"),
    ],
)
def test_bad_thresholds_are_named(kwargs, name) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        cartography_regions([0.5], [0.1], **kwargs)


def test_shapes_must_agree() -> None:
    with pytest.raises(InvalidParameterError, match="one length"):
        cartography_regions([0.5, 0.2], [0.1])
    assert (VARIABILITY_THRESHOLD, CONFIDENCE_THRESHOLD) == (0.2, 0.5)


def _run(path, logits_per_snapshot, labels):
    n = len(labels)
    with rd.Recorder(path, n_samples=n, labels=labels) as rec:
        for epoch, logits in enumerate(logits_per_snapshot):
            rec.store_batch(np.asarray(logits, float), ids=np.arange(n), epoch=epoch)
            rec.store_batch(
                np.random.default_rng(epoch).normal(size=(n, 3)),
                ids=np.arange(n),
                epoch=epoch,
                layer="hidden",
            )
    return path


RIGHT, WRONG = [4.0, 0.0], [0.0, 4.0]  # logits for label 0


def test_compare_samples_by_hand(tmp_path) -> None:
    labels = [0, 0, 0, 0]
    # sample 0: right in both; 1: right in A only (B never); 2: B right then wrong
    # (forgotten in B); 3: wrong in A at the end after being right (forgotten in A).
    a = _run(tmp_path / "a", [[RIGHT, RIGHT, RIGHT, RIGHT], [RIGHT, RIGHT, RIGHT, WRONG]], labels)
    b = _run(tmp_path / "b", [[RIGHT, WRONG, RIGHT, RIGHT], [RIGHT, WRONG, WRONG, RIGHT]], labels)
    ta = rd.sample_dynamics(a, neighbour_k=1)
    tb = rd.sample_dynamics(b, neighbour_k=1)
    c = compare_samples(ta, tb)
    assert c["learned_a"].tolist() == [True, True, True, False]
    assert c["learned_b"].tolist() == [True, False, False, True]
    assert c["forgotten_a"].tolist() == [False, False, False, True]
    assert c["forgotten_b"].tolist() == [False, False, True, False]
    # AUM of RIGHT is 4, of WRONG -4: means over the two snapshots.
    np.testing.assert_allclose(c["aum_a"], [4, 4, 4, 0])
    np.testing.assert_allclose(c["aum_b"], [4, -4, 0, 4])
    np.testing.assert_allclose(c["aum_change"], [0, -8, -4, 4])
    assert c["forgetting_events_b"].tolist() == [0, 0, 1, 0]
    np.testing.assert_allclose(
        c["neighbour_stability_change"], tb["neighbour_stability"] - ta["neighbour_stability"]
    )
    assert list(c)[:2] == ["id", "label"]


def test_a_run_compared_with_itself_changes_nothing(tmp_path) -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 30)
    a = _run(tmp_path / "a", [rng.normal(size=(30, 2)) for _ in range(4)], labels)
    t = rd.sample_dynamics(a, neighbour_k=3)
    c = compare_samples(t, t)
    assert not c["forgotten_a"].any() or np.array_equal(c["forgotten_a"], c["forgotten_b"])
    assert np.array_equal(c["learned_a"], c["learned_b"])
    assert np.all(c["aum_change"] == 0) and np.all(c["neighbour_stability_change"] == 0)
    # forgotten and learned exclude each other.
    assert not np.any(c["learned_a"] & c["forgotten_a"])


def test_tables_over_other_samples_are_refused(tmp_path) -> None:
    rng = np.random.default_rng(3)
    a = _run(tmp_path / "a", [rng.normal(size=(10, 2)) for _ in range(2)], np.arange(10) % 2)
    with pytest.raises(InvalidParameterError, match="same sample ids"):
        compare_samples(
            rd.sample_dynamics(a, samples=[0, 1, 2], neighbour_k=None),
            rd.sample_dynamics(a, samples=[0, 1, 3], neighbour_k=None),
        )
