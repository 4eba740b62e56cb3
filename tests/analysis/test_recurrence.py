"""Tests of reprdynamics.analysis.recurrence (RQA and the NNTF band sweep)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reprdynamics.analysis.recurrence import (
    NNTF_BAND_STARTS,
    NNTFBandSweep,
    RQAResult,
    diagonal_line_distribution,
    nntf_band_sweep,
    nntf_entropy,
    nntf_laminarity,
    recurrence_matrix,
    rqa,
    vertical_line_distribution,
)
from reprdynamics.errors import InvalidParameterError

# --------------------------------------------------------------------------------------
# Helpers: naive references written as plain loops
# --------------------------------------------------------------------------------------


def run_lengths(seq) -> list[int]:
    """Lengths of the maximal runs of truthy values in a sequence, by a plain scan."""
    lengths, current = [], 0
    for value in seq:
        if value:
            current += 1
        elif current:
            lengths.append(current)
            current = 0
    if current:
        lengths.append(current)
    return lengths


def naive_rqa(R, l_min: int, v_min: int, theiler: int) -> dict[str, float]:
    """Marwan et al. (2007) measures, element by element, with this module's conventions."""
    n = len(R)
    kept = [[bool(R[i][j]) and abs(i - j) >= theiler for j in range(n)] for i in range(n)]
    diagonal = []
    for k in range(-(n - 1), n):
        diagonal += run_lengths([kept[i][i + k] for i in range(n) if 0 <= i + k < n])
    vertical = []
    for j in range(n):
        vertical += run_lengths([kept[i][j] for i in range(n)])
    points = sum(sum(row) for row in kept)
    outside = sum(1 for i in range(n) for j in range(n) if abs(i - j) >= theiler)

    def ratio(a, b):
        return a / b if b else 0.0

    long_d = [length for length in diagonal if length >= l_min]
    long_v = [length for length in vertical if length >= v_min]
    entropy = 0.0
    for length in set(long_d):
        p = long_d.count(length) / len(long_d)
        entropy -= p * math.log(p)
    return {
        "rr": ratio(points, outside),
        "det": ratio(sum(long_d), points),
        "l_mean": ratio(sum(long_d), len(long_d)),
        "l_max": max(diagonal, default=0),
        "entr": entropy,
        "lam": ratio(sum(long_v), points),
        "tt": ratio(sum(long_v), len(long_v)),
        "v_max": max(vertical, default=0),
    }


def naive_nntf(D, l_min: int = 2, interval: float = 0.05):
    """The NNTF procedure (utils/measures.py of the NNTF code), restated as plain loops.

    For each band a in np.around(np.arange(0, 1, 0.05), 2): binarise [a <= D <= a + interval];
    laminarity = sum of bin-index-weighted histogram of vertical lines >= l_min over the same
    for all vertical lines (bins range(0, N + 1)); entropy over all diagonals (line of
    identity included), histogram over bins range(l_min - 1, N + 2) divided by the sum of the
    line lengths, -sum(p * log(p + 1e-8)). Then the largest laminarity and the smallest
    entropy in (0, 2).
    """
    D = np.asarray(D, dtype=float)
    n = D.shape[0]
    rows = []
    best_lam, lam_a, best_ent, ent_a = -2, -1, 2, -1
    for a in list(np.around(np.arange(0.0, 1.0, 0.05), 2)):
        b = a + interval
        R = [[1 if (D[i, j] >= a and D[i, j] <= b) else 0 for j in range(n)] for i in range(n)]

        v_all, v_long = [], []
        for j in range(n):
            for length in run_lengths([R[i][j] for i in range(n)]):
                v_all.append(length)
                if length >= l_min:
                    v_long.append(length)
        h_all = np.histogram(v_all, bins=range(0, n + 1))[0]
        h_long = np.histogram(v_long, bins=range(0, n + 1))[0]
        weights = list(range(0, n))
        den = np.sum(weights * h_all)
        lam = np.sum(weights * h_long) / den if den != 0 else 0

        d = []
        for k in range(n - 1, -n, -1):
            line = [R[i][i + k] for i in range(n) if 0 <= i + k < n]
            d += [length for length in run_lengths(line) if length >= l_min]
        hist = np.histogram(d, bins=range(l_min - 1, n + 2))[0]
        probs = hist / np.sum(d) if np.sum(d) != 0 else np.zeros(len(hist))
        ent = -np.sum(probs * np.log(probs + 1e-8))

        if lam > best_lam:
            best_lam, lam_a = lam, a
        if 0 < ent < best_ent:
            best_ent, ent_a = ent, a
        rows.append((a, b, lam, ent))
    return rows, (best_lam, lam_a, best_ent, ent_a)


def random_symmetric_recurrence(rng, n: int, density: float) -> np.ndarray:
    upper = np.triu(rng.random((n, n)) < density, 1)
    return upper | upper.T | np.eye(n, dtype=bool)


def trajectory_distance(rng, n: int) -> np.ndarray:
    """Distance matrix of a 1-D random walk (long diagonal and vertical lines)."""
    x = np.cumsum(rng.standard_normal(n))
    return np.abs(x[:, None] - x[None, :])


# The worked example. R is symmetric; "." marks a non-recurrence.
#        j: 0 1 2 3 4
#   i = 0:  1 1 1 1 .
#   i = 1:  1 1 1 . 1
#   i = 2:  1 1 1 1 .
#   i = 3:  1 . 1 1 .
#   i = 4:  . 1 . . 1
R5 = np.array(
    [
        [1, 1, 1, 1, 0],
        [1, 1, 1, 0, 1],
        [1, 1, 1, 1, 0],
        [1, 0, 1, 1, 0],
        [0, 1, 0, 0, 1],
    ],
    dtype=bool,
)


# --------------------------------------------------------------------------------------
# recurrence_matrix
# --------------------------------------------------------------------------------------


def test_recurrence_matrix_threshold_is_closed():
    D = np.array([[0.0, 0.1, 0.3], [0.1, 0.0, 0.2], [0.3, 0.2, 0.0]])
    R = recurrence_matrix(D, epsilon=0.2)
    assert R.dtype == np.bool_
    assert R.tolist() == [[True, True, False], [True, True, True], [False, True, True]]
    assert recurrence_matrix(D, epsilon=0).tolist() == np.eye(3, dtype=bool).tolist()


def test_recurrence_matrix_band_is_closed_at_both_ends():
    D = np.array([[0.0, 0.1, 0.3], [0.1, 0.0, 0.2], [0.3, 0.2, 0.0]])
    # [0.1, 0.1 + 0.1] = [0.1, 0.2]: both 0.1 and 0.2 are inside.
    R = recurrence_matrix(D, band=(0.1, 0.1))
    assert R.astype(int).tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    assert recurrence_matrix(D, band=(0.0, 0.0)).tolist() == np.eye(3, dtype=bool).tolist()


def test_recurrence_matrix_band_edges_follow_float64_addition():
    # 0.1 + 0.05 = 0.15000000000000002 >= 0.15, but 0.35 + 0.05 = 0.39999999999999997 < 0.4.
    D = np.array([[0.0, 0.15], [0.4, 0.0]])
    assert recurrence_matrix(D, band=(0.1, 0.05))[0, 1]
    assert recurrence_matrix(D, band=(0.15, 0.05))[0, 1]
    assert not recurrence_matrix(D, band=(0.35, 0.05))[1, 0]
    assert recurrence_matrix(D, band=(0.4, 0.05))[1, 0]


# --------------------------------------------------------------------------------------
# Line distributions and RQA: the worked 5×5 example
# --------------------------------------------------------------------------------------


def test_line_distributions_worked_example():
    # Diagonals outside the line of identity (each appears in both triangles):
    #   offset ±1: (0,1) (1,2) (2,3) (3,4) = 1 1 1 0 -> one line of length 3
    #   offset ±2: (0,2) (1,3) (2,4)       = 1 0 0   -> one line of length 1
    #   offset ±3: (0,3) (1,4)             = 1 1     -> one line of length 2
    #   offset ±4: (0,4)                   = 0
    assert diagonal_line_distribution(R5).tolist() == [0, 2, 2, 2, 0, 0]
    # With the line of identity (length 5) kept:
    assert diagonal_line_distribution(R5, theiler=0).tolist() == [0, 2, 2, 2, 0, 1]
    # Theiler 2 also drops offset ±1:
    assert diagonal_line_distribution(R5, theiler=2).tolist() == [0, 2, 2, 0, 0, 0]
    # Columns with the diagonal removed:
    #   col 0: . 1 1 1 0 -> 3      col 1: 1 . 1 0 1 -> 1, 1, 1
    #   col 2: 1 1 . 1 0 -> 2, 1   col 3: 1 0 1 . 0 -> 1, 1     col 4: 0 1 0 0 . -> 1
    assert vertical_line_distribution(R5).tolist() == [0, 7, 1, 1, 0, 0]
    # With the diagonal kept:
    #   col 0: 1 1 1 1 0 -> 4      col 1: 1 1 1 0 1 -> 3, 1
    #   col 2: 1 1 1 1 0 -> 4      col 3: 1 0 1 1 0 -> 1, 2     col 4: 0 1 0 0 1 -> 1, 1
    assert vertical_line_distribution(R5, theiler=0).tolist() == [0, 4, 1, 1, 2, 0]


def test_rqa_worked_example_default_theiler():
    res = rqa(R5)
    # 12 recurrence points off the diagonal, 25 - 5 = 20 points outside the window.
    assert res.n_recurrences == 12
    assert res.rr == pytest.approx(12 / 20)
    # Diagonal lines P(1) = 2, P(2) = 2, P(3) = 2: lines >= 2 hold 2*2 + 2*3 = 10 points.
    assert res.det == pytest.approx(10 / 12)
    assert res.l_mean == pytest.approx(10 / 4)
    assert res.l_max == 3
    # Lines >= 2: two of length 2, two of length 3 -> p = 1/2, 1/2.
    assert res.entr == pytest.approx(math.log(2))
    # Vertical lines P(1) = 7, P(2) = 1, P(3) = 1: lines >= 2 hold 5 points.
    assert res.lam == pytest.approx(5 / 12)
    assert res.tt == pytest.approx(5 / 2)
    assert res.v_max == 3
    assert (res.l_min, res.v_min, res.theiler, res.n) == (2, 2, 1, 5)


def test_rqa_worked_example_line_of_identity_kept():
    res = rqa(R5, theiler=0)
    assert res.rr == pytest.approx(17 / 25)
    # Diagonal lines: P(1) = 2, P(2) = 2, P(3) = 2, P(5) = 1.
    assert res.det == pytest.approx((4 + 6 + 5) / 17)
    assert res.l_mean == pytest.approx(15 / 5)
    assert res.l_max == 5
    assert res.entr == pytest.approx(-(2 * 0.4 * math.log(0.4) + 0.2 * math.log(0.2)))
    # Vertical lines: P(1) = 4, P(2) = 1, P(3) = 1, P(4) = 2.
    assert res.lam == pytest.approx((2 + 3 + 8) / 17)
    assert res.tt == pytest.approx(13 / 4)
    assert res.v_max == 4


def test_rqa_worked_example_theiler_two():
    res = rqa(R5, theiler=2)
    # Outside |i - j| < 2: offsets ±2 (1 point each) and ±3 (2 points each) -> 6 points,
    # out of 25 - (5 + 2 * 4) = 12.
    assert res.rr == pytest.approx(6 / 12)
    assert res.det == pytest.approx(4 / 6)
    assert res.l_mean == pytest.approx(2.0)
    assert res.entr == 0.0
    # Columns without |i - j| < 2: col0 . . 1 1 0 -> 2; col1 . . . 0 1 -> 1;
    # col2 1 . . . 0 -> 1; col3 1 0 . . . -> 1; col4 0 1 0 . . -> 1.
    assert res.lam == pytest.approx(2 / 6)
    assert res.tt == pytest.approx(2.0)
    assert res.l_min == 2 and res.v_max == 2


def test_rqa_l_min_and_v_min():
    res = rqa(R5, l_min=3, v_min=3)
    assert res.det == pytest.approx(6 / 12)
    assert res.l_mean == pytest.approx(3.0)
    assert res.entr == 0.0  # one line length only
    assert res.lam == pytest.approx(3 / 12)
    assert res.tt == pytest.approx(3.0)
    one = rqa(R5, l_min=1, v_min=1)
    assert one.det == 1.0 and one.lam == 1.0
    assert one.l_mean == pytest.approx(12 / 6)
    assert one.tt == pytest.approx(12 / 9)


def test_rqa_accepts_distance_matrix_and_threshold_alias():
    rng = np.random.default_rng(0)
    D = trajectory_distance(rng, 30)
    expected = rqa(recurrence_matrix(D, epsilon=0.8))
    got = rqa(D, epsilon=0.8)
    assert got.epsilon == 0.8 and got.band is None
    assert got.to_dict() | {"epsilon": None} == expected.to_dict()
    with pytest.warns(DeprecationWarning, match="calls the threshold epsilon"):
        assert rqa(D, threshold=0.8) == got
    banded = rqa(D, band=(0.5, 0.5))
    assert banded.band == (0.5, 0.5)
    assert banded.rr == rqa(recurrence_matrix(D, band=(0.5, 0.5))).rr


def test_rqa_accepts_zero_one_numbers():
    assert rqa(R5.astype(np.int64)) == rqa(R5)
    assert rqa(R5.astype(np.float32).tolist()) == rqa(R5)


def test_rqa_to_dict():
    d = rqa(R5).to_dict()
    assert list(d)[:8] == ["rr", "det", "l_mean", "l_max", "entr", "lam", "tt", "v_max"]
    assert d["l_max"] == 3 and isinstance(d["rr"], float)
    assert rqa(np.zeros((3, 3)), band=(0, 1)).to_dict()["band"] == [0.0, 1.0]
    assert isinstance(rqa(R5), RQAResult)


# --------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------


def test_no_recurrence_gives_zeros():
    res = rqa(np.zeros((6, 6), dtype=bool))
    assert (res.rr, res.det, res.l_mean, res.entr, res.lam, res.tt) == (0, 0, 0, 0, 0, 0)
    assert (res.l_max, res.v_max, res.n_recurrences) == (0, 0, 0)


def test_only_line_of_identity_gives_zeros():
    res = rqa(np.eye(6, dtype=bool))
    assert res.rr == 0.0 and res.det == 0.0 and res.lam == 0.0 and res.l_max == 0
    kept = rqa(np.eye(6, dtype=bool), theiler=0)
    assert kept.rr == pytest.approx(1 / 6)
    assert kept.det == 1.0 and kept.l_max == 6
    assert kept.lam == 0.0 and kept.v_max == 1


@pytest.mark.parametrize("theiler", [0, 1, 2, 5])
def test_full_matrix(theiler):
    res = rqa(np.ones((6, 6), dtype=bool), theiler=theiler)
    assert res.rr == 1.0
    assert res.n_recurrences == 36 - {0: 0, 1: 6, 2: 16, 5: 34}[theiler]
    # Only the corner points (0, 5) and (5, 0) sit on diagonal lines of length 1; they are
    # also cut off as vertical lines of length 1 unless the whole column is kept.
    assert res.det == (res.n_recurrences - 2) / res.n_recurrences
    assert res.lam == (1.0 if theiler == 0 else res.det)


@pytest.mark.parametrize("theiler", [6, 10])
def test_window_covering_everything(theiler):
    res = rqa(np.ones((6, 6), dtype=bool), theiler=theiler)
    assert res.rr == 0.0 and res.n_recurrences == 0 and res.det == 0.0


def test_one_by_one():
    assert rqa([[True]]).rr == 0.0
    assert rqa([[True]], theiler=0).rr == 1.0
    assert rqa([[True]], theiler=0).l_max == 1


# --------------------------------------------------------------------------------------
# Invariants and the naive reference
# --------------------------------------------------------------------------------------


def _assert_matches_naive(R, l_min, v_min, theiler):
    got = rqa(R, l_min=l_min, v_min=v_min, theiler=theiler).to_dict()
    expected = naive_rqa(R.tolist(), l_min, v_min, theiler)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("l_min", "v_min", "theiler"), [(2, 2, 1), (3, 2, 0), (2, 4, 3)])
def test_rqa_matches_naive_reference(seed, l_min, v_min, theiler):
    rng = np.random.default_rng(seed)
    _assert_matches_naive(random_symmetric_recurrence(rng, 17, 0.3), l_min, v_min, theiler)
    _assert_matches_naive(trajectory_distance(rng, 23) <= 1.0, l_min, v_min, theiler)
    _assert_matches_naive(rng.random((11, 11)) < 0.5, l_min, v_min, theiler)  # asymmetric


bool_matrices = st.integers(1, 12).flatmap(
    lambda n: arrays(np.bool_, (n, n), elements=st.booleans())
)


@settings(max_examples=60, deadline=None)
@given(R=bool_matrices, theiler=st.integers(0, 4), l_min=st.integers(1, 4))
def test_invariants(R, theiler, l_min):
    res = rqa(R, theiler=theiler, l_min=l_min, v_min=l_min)
    for value in (res.rr, res.det, res.lam):
        assert 0.0 <= value <= 1.0
    assert res.entr >= 0.0
    assert res.l_mean == 0.0 or l_min <= res.l_mean <= res.l_max
    assert res.tt == 0.0 or l_min <= res.tt <= res.v_max
    # Every recurrence point outside the window lies on exactly one line of each kind.
    n = R.shape[0]
    lengths = np.arange(n + 1)
    assert lengths @ diagonal_line_distribution(R, theiler=theiler) == res.n_recurrences
    assert lengths @ vertical_line_distribution(R, theiler=theiler) == res.n_recurrences
    # Transposition maps diagonals onto diagonals; reversing time (both axes) maps diagonals
    # onto diagonals and columns onto columns.
    transposed = rqa(R.T, theiler=theiler, l_min=l_min, v_min=l_min)
    assert (transposed.rr, transposed.det, transposed.l_max) == (res.rr, res.det, res.l_max)
    assert transposed.entr == pytest.approx(res.entr)
    reversed_ = rqa(R[::-1, ::-1], theiler=theiler, l_min=l_min, v_min=l_min)
    assert reversed_.to_dict() == pytest.approx(res.to_dict())


@settings(max_examples=40, deadline=None)
@given(R=bool_matrices)
def test_symmetric_input_counts_each_line_in_both_triangles(R):
    S = R | R.T
    counts = diagonal_line_distribution(S)
    assert np.all(counts % 2 == 0)
    upper = diagonal_line_distribution(np.triu(S, 1))
    assert np.array_equal(counts, 2 * upper)
    # Rows and columns of a symmetric matrix hold the same lines.
    assert np.array_equal(vertical_line_distribution(S), vertical_line_distribution(S.T))


@settings(max_examples=40, deadline=None)
@given(R=bool_matrices)
def test_widening_the_theiler_window_only_removes_points(R):
    counts = [rqa(R, theiler=w).n_recurrences for w in range(R.shape[0] + 2)]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == 0
    assert rqa(R, theiler=0).n_recurrences == int(R.sum())


def test_time_order_matters():
    # RQA depends on time order: a shuffled trajectory loses its diagonal lines.
    rng = np.random.default_rng(3)
    D = trajectory_distance(rng, 40)
    order = rng.permutation(40)
    res, shuffled = rqa(D, epsilon=0.5), rqa(D[np.ix_(order, order)], epsilon=0.5)
    assert shuffled.rr == res.rr  # RR is order-free
    assert shuffled.det < res.det


# --------------------------------------------------------------------------------------
# pyunicorn
# --------------------------------------------------------------------------------------


def _pyunicorn_measures(R: np.ndarray, l_min: int, v_min: int) -> dict[str, float]:
    timeseries = pytest.importorskip("pyunicorn.timeseries")
    n = R.shape[0]
    # Any threshold builds some R; ours replaces it before anything is computed or cached.
    rp = timeseries.RecurrencePlot(np.zeros((n, 1)), threshold=0.5, silence_level=2)
    rp.R = R.astype(np.int8)
    return {
        "rr": rp.recurrence_rate(),
        "det": rp.determinism(l_min=l_min),
        "l_mean": rp.average_diaglength(l_min=l_min),
        "l_max": rp.max_diaglength(),
        "entr": rp.diag_entropy(l_min=l_min),
        "lam": rp.laminarity(v_min=v_min),
        "tt": rp.trapping_time(v_min=v_min),
        "v_max": rp.max_vertlength(),
    }


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("l_min", "v_min"), [(2, 2), (3, 2), (2, 3), (4, 4)])
def test_matches_pyunicorn(seed, l_min, v_min):
    rng = np.random.default_rng(seed)
    n = 25
    if seed % 2:
        R = random_symmetric_recurrence(rng, n, density=0.35)
    else:
        R = trajectory_distance(rng, n) <= 0.7
    # pyunicorn skips the line of identity in diagonal lines only; zero it so that its
    # vertical lines match a Theiler window of 1 as well.
    R_off = R.copy()
    np.fill_diagonal(R_off, False)
    expected = _pyunicorn_measures(R_off, l_min, v_min)
    got = rqa(R, l_min=l_min, v_min=v_min, theiler=1)
    # pyunicorn's RR divides by N², ours by the N² - N points outside the window.
    assert got.rr * (n * n - n) / (n * n) == pytest.approx(expected["rr"], rel=1e-12)
    assert got.l_max == expected["l_max"] and got.v_max == expected["v_max"]
    for key in ("det", "l_mean", "entr", "lam", "tt"):
        # pyunicorn adds 1e-8 to every denominator (so its ENTR of one length is ~5e-9).
        assert getattr(got, key) == pytest.approx(expected[key], rel=1e-6, abs=1e-7), key


# --------------------------------------------------------------------------------------
# NNTF band sweep
# --------------------------------------------------------------------------------------

# A 4×4 fingerprint worked by hand.
D4 = np.array(
    [
        [0.0, 0.02, 0.5, 0.9],
        [0.02, 0.0, 0.04, 0.03],
        [0.5, 0.04, 0.0, 0.5],
        [0.9, 0.03, 0.5, 0.0],
    ]
)


def test_nntf_worked_example():
    sweep = nntf_band_sweep(D4)
    assert isinstance(sweep, NNTFBandSweep)
    assert np.array_equal(sweep.starts, NNTF_BAND_STARTS)
    # Band [0, 0.05]:       Vertical lines (whole columns, diagonal kept):
    #   1 1 . .             col 0: 1 1 . . -> 2       col 1: 1 1 1 1 -> 4 (weighs N-1 = 3)
    #   1 1 1 1             col 2: . 1 1 . -> 2       col 3: . 1 . 1 -> 1, 1
    #   . 1 1 .           weights min(l, 3): >= 2: 2 + 3 + 2 = 7; all: 7 + 1 + 1 = 9.
    #   . 1 . 1
    assert sweep.laminarity[0] == 7 / 9
    # Diagonals, identity kept: main 1111 -> 4; ±1: 1 1 0 -> 2 each; ±2: 0 1 -> 1 each.
    # Lines >= 2: 4, 2, 2; sum of lengths 8; q(2) = 2/8, q(4) = 1/8.
    q2, q4 = 2 / 8, 1 / 8
    expected_entropy = -(q2 * math.log(q2 + 1e-8) + q4 * math.log(q4 + 1e-8))
    assert sweep.entropy[0] == pytest.approx(expected_entropy, rel=1e-15)
    # Bands [0.45, 0.5] and [0.5, 0.55] (0.45 + 0.05 == 0.5 exactly) both hold the 0.5s:
    #   . . 1 .   only lines of length 1 -> laminarity 0, no diagonal >= 2 -> entropy 0.
    #   . . . .
    #   1 . . 1
    #   . . 1 .
    for band in (9, 10):
        assert sweep.laminarity[band] == 0.0 and sweep.entropy[band] == 0.0
    assert np.count_nonzero(sweep.laminarity) == 1
    assert np.count_nonzero(sweep.entropy) == 1
    assert (sweep.best_laminarity, sweep.best_laminarity_start) == (7 / 9, 0.0)
    assert sweep.best_entropy == sweep.entropy[0] and sweep.best_entropy_start == 0.0


def test_nntf_laminarity_weighs_full_columns_by_n_minus_one():
    # Column 0 is a full line of length 3 (weight 2), column 1 holds two lines of length 1.
    R = [[1, 1, 0], [1, 0, 0], [1, 1, 0]]
    assert nntf_laminarity(R) == 2 / (2 + 1 + 1)  # the standard weighting would give 3/5
    assert nntf_laminarity(R, l_min=1) == 1.0
    assert nntf_laminarity([[1]]) == 0.0  # every weight is 0 when N = 1


def test_nntf_entropy_quirks():
    # Identity only, N = 4: one line of length 4, q = 1/4 (not 1): -(1/4) ln(1/4 + 1e-8).
    assert nntf_entropy(np.eye(4, dtype=bool)) == pytest.approx(
        -0.25 * math.log(0.25 + 1e-8), rel=1e-15
    )
    # One line of length 1 with l_min = 1: -ln(1 + 1e-8), slightly negative.
    assert nntf_entropy([[1]], l_min=1) == pytest.approx(-math.log(1 + 1e-8), rel=1e-12)
    assert nntf_entropy([[1]], l_min=1) < 0
    assert nntf_entropy(np.zeros((3, 3), dtype=bool)) == 0.0
    assert nntf_entropy(np.ones((2, 2), dtype=bool), l_min=5) == 0.0


def test_nntf_band_edges():
    # Off-diagonal 0.15: in [0.1, 0.15000000000000002] and [0.15, 0.2].
    # Off-diagonal 0.4: not in [0.35, 0.39999999999999997], only in [0.4, 0.45].
    # Each such band gives columns 0 1 1 / 1 0 1 / 1 1 0: lines 2; 1, 1; 2 -> 4/6.
    for value, inside in ((0.15, (2, 3)), (0.4, (8,))):
        D = np.full((3, 3), value)
        np.fill_diagonal(D, 0.0)
        sweep = nntf_band_sweep(D)
        assert set(np.flatnonzero(sweep.laminarity[1:]) + 1) == set(inside)
        for band in inside:
            assert sweep.laminarity[band] == 4 / 6
    sweep = nntf_band_sweep(np.zeros((2, 2)))
    assert sweep.ends[2] == 0.1 + 0.05 and sweep.ends[7] == 0.35 + 0.05


def _random_fingerprint(rng, n: int, kind: str) -> np.ndarray:
    if kind == "grid":  # values on band edges, as exact multiples and as rounded ones
        k = rng.integers(0, 21, size=(n, n))
        values = np.where(rng.random((n, n)) < 0.5, k * 0.05, np.around(k * 0.05, 2))
    elif kind == "uniform":
        values = rng.random((n, n))
    else:  # a smooth trajectory, scaled into [0, 1]
        values = trajectory_distance(rng, n)
        values = values / values.max()
    D = np.triu(values, 1)
    return D + D.T


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["grid", "uniform", "trajectory"])
@pytest.mark.parametrize(("l_min", "width"), [(2, 0.05), (1, 0.05), (3, 0.05), (2, 0.1)])
def test_nntf_band_sweep_matches_naive_reference_exactly(seed, kind, l_min, width):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 16))
    D = _random_fingerprint(rng, n, kind)
    rows, best = naive_nntf(D, l_min=l_min, interval=width)
    sweep = nntf_band_sweep(D, l_min=l_min, width=width)
    assert sweep.starts.tolist() == [row[0] for row in rows]
    assert sweep.ends.tolist() == [row[1] for row in rows]
    assert sweep.laminarity.tolist() == [float(row[2]) for row in rows]
    assert sweep.entropy.tolist() == [float(row[3]) for row in rows]
    assert (
        sweep.best_laminarity,
        sweep.best_laminarity_start,
        sweep.best_entropy,
        sweep.best_entropy_start,
    ) == tuple(float(x) for x in best)


def test_nntf_band_sweep_no_entropy_candidate_keeps_code_sentinels():
    sweep = nntf_band_sweep(np.full((3, 3), 5.0))  # nothing in any band
    assert sweep.best_entropy == 2.0 and sweep.best_entropy_start == -1.0
    assert sweep.best_laminarity == 0.0 and sweep.best_laminarity_start == 0.0


def test_nntf_band_sweep_custom_starts_and_to_dict():
    sweep = nntf_band_sweep(D4, starts=[0.0, 0.5], width=0.1)
    assert sweep.starts.tolist() == [0.0, 0.5] and sweep.ends.tolist() == [0.1, 0.6]
    d = sweep.to_dict()
    assert d["laminarity"][0] == 7 / 9 and d["width"] == 0.1 and d["l_min"] == 2
    with pytest.raises(ValueError):
        sweep.laminarity[0] = 1.0  # read-only result


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_error_message_template():
    with pytest.raises(InvalidParameterError) as info:
        recurrence_matrix(np.zeros((2, 2)), epsilon=-1)
    assert str(info.value) == (
        "The 'epsilon' parameter of recurrence_matrix must be a float >= 0. Got -1 instead."
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "D",
    [np.zeros((2, 3)), np.zeros(4), np.zeros((0, 0)), np.zeros((2, 2, 2)), [["a", "b"], [1, 2]]],
)
def test_bad_distance_matrix(D):
    with pytest.raises(InvalidParameterError, match="'D' parameter of recurrence_matrix"):
        recurrence_matrix(D, epsilon=0.1)


def test_nan_refused():
    D = np.zeros((3, 3))
    D[0, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="1 NaN"):
        recurrence_matrix(D, epsilon=0.1)
    with pytest.raises(InvalidParameterError, match="NaN"):
        rqa(D, epsilon=0.1)
    with pytest.raises(InvalidParameterError, match="NaN"):
        nntf_band_sweep(D)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"epsilon": 0.1, "band": (0, 0.1)},
        {"epsilon": float("nan")},
        {"epsilon": True},
        {"epsilon": "0.1"},
        {"band": (0.1,)},
        {"band": (0.1, -0.1)},
        {"band": (float("nan"), 0.1)},
        {"band": 0.1},
    ],
)
def test_bad_threshold(kwargs):
    with pytest.raises(InvalidParameterError, match="parameter of recurrence_matrix"):
        recurrence_matrix(np.zeros((2, 2)), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"l_min": 0}, "l_min"),
        ({"l_min": 2.0}, "l_min"),
        ({"v_min": True}, "v_min"),
        ({"theiler": -1}, "theiler"),
        ({"epsilon": 0.1, "threshold": 0.1}, "threshold"),
    ],
)
def test_bad_rqa_parameters(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of rqa"):
        rqa(R5, **kwargs)


def test_rqa_refuses_non_binary_matrix_without_threshold():
    with pytest.raises(InvalidParameterError, match="pass epsilon or band"):
        rqa(np.array([[0.0, 0.5], [0.5, 0.0]]))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"width": -0.05}, "width"),
        ({"width": float("inf")}, "width"),
        ({"l_min": 0}, "l_min"),
        ({"starts": []}, "starts"),
        ({"starts": [[0.0]]}, "starts"),
        ({"starts": [0.0, float("nan")]}, "starts"),
    ],
)
def test_bad_band_sweep_parameters(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of nntf_band_sweep"):
        nntf_band_sweep(D4, **kwargs)


def test_line_distribution_errors():
    with pytest.raises(InvalidParameterError, match="'theiler' parameter"):
        diagonal_line_distribution(R5, theiler=-1)
    with pytest.raises(InvalidParameterError, match="'R' parameter of vertical_line_distribution"):
        vertical_line_distribution(np.full((2, 2), 2))
