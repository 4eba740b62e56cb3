"""Phase changes: checkerboard novelty along the diagonal of a fingerprint."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprdynamics.analysis.phases import novelty_curve, phase_changes
from reprdynamics.errors import InvalidParameterError


def _blocks(sizes):
    """Distance 0 within a block, 1 across blocks."""
    ids = np.repeat(np.arange(len(sizes)), sizes)
    return (ids[:, None] != ids[None, :]).astype(float)


def test_hand_checked_two_blocks():
    # Boundary between rows 1 and 2: across-block mean 1, within-block means 0 -> 1.
    # Boundaries 0 and 2 have one-row blocks on one side, inside a block -> 0.
    np.testing.assert_allclose(novelty_curve(_blocks([2, 2]), width=2), [0.0, 1.0, 0.0])


def test_block_boundaries_are_the_phase_changes():
    D = _blocks([4, 5, 3])
    found = phase_changes(D, width=3)
    assert sorted(found.boundaries.tolist()) == [3, 8]
    assert np.all(found.scores > 0)


def test_a_constant_matrix_has_no_phase_change():
    found = phase_changes(np.zeros((6, 6)))
    assert found.boundaries.size == 0
    np.testing.assert_allclose(found.novelty, 0.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.integers(1, 4))
def test_novelty_is_bounded_and_sized(sizes, width):
    D = _blocks(sizes)
    curve = novelty_curve(D, width=width)
    assert curve.shape == (D.shape[0] - 1,)
    assert np.all(curve >= -1.0) and np.all(curve <= 1.0)
    # Reversing time reverses the curve (the score is symmetric in past and future).
    np.testing.assert_allclose(novelty_curve(D[::-1, ::-1], width=width), curve[::-1])


def test_tiny_jumps_are_not_phase_changes():
    D = _blocks([4, 4]) * 0.01
    assert phase_changes(D).boundaries.size == 0
    assert phase_changes(D, min_score=0.001).boundaries.tolist() == [3]


def test_bad_input():
    with pytest.raises(InvalidParameterError, match="'D' parameter"):
        novelty_curve(np.zeros((3, 4)))
    with pytest.raises(InvalidParameterError, match="'width' parameter"):
        novelty_curve(np.zeros((3, 3)), width=0)
