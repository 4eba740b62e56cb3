"""Tests of per-sample training dynamics (reprdynamics.analysis.dynamics)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reprdynamics.analysis.dynamics import (
    Cartography,
    DynamicsAccumulator,
    SampleDynamics,
    area_under_margin,
    cartography,
    dynamics_from_outputs,
    first_learned,
    forgetting_events,
    mislabel_ranking,
    mislabel_scores,
    neighbour_stability,
    prediction_entropy,
    softmax,
)
from reprdynamics.errors import (
    InvalidParameterError,
    LabelsRequiredError,
    NotEnoughSnapshotsError,
)

LOG2 = math.log(2.0)

# --------------------------------------------------------------------------------------------
# A hand-checkable run: T=4 snapshots, N=5 samples, C=3 classes, built from probabilities whose
# logs are the logits (plus a per-row constant, which softmax ignores).
# --------------------------------------------------------------------------------------------
A = [0.50, 0.25, 0.25]  # predicts class 0
B = [0.25, 0.50, 0.25]  # predicts class 1
G = [0.25, 0.25, 0.50]  # predicts class 2
U = [1 / 3, 1 / 3, 1 / 3]  # a tie: argmax → class 0
HAND_PROBABILITIES = np.array(
    [
        # sample: 0 (gold 0), 1 (gold 1), 2 (gold 2), 3 (gold 0), 4 (gold unknown)
        [A, B, U, B, A],  # t = 0
        [B, B, A, B, A],  # t = 1
        [A, B, G, B, A],  # t = 2
        [B, B, G, B, A],  # t = 3
    ]
)
HAND_LABELS = np.array([0, 1, 2, 0, -1])
HAND_LOGITS = np.log(HAND_PROBABILITIES) + np.arange(5.0)[None, :, None]  # shift each sample
H_SKEWED = 1.5 * LOG2  # entropy of (1/2, 1/4, 1/4)


def test_hand_entropy() -> None:
    expected = np.full((4, 5), H_SKEWED)
    expected[0, 2] = math.log(3.0)
    np.testing.assert_allclose(prediction_entropy(HAND_LOGITS), expected, atol=1e-12)
    np.testing.assert_allclose(
        prediction_entropy(HAND_PROBABILITIES, kind="probabilities"), expected, atol=1e-12
    )


def test_hand_cartography() -> None:
    result = cartography(HAND_LOGITS, HAND_LABELS)
    assert isinstance(result, Cartography)
    # Sample 2: p(gold) = 1/3, 1/4, 1/2, 1/2 → mean 19/48, population std sqrt(3)/16.
    np.testing.assert_allclose(
        result.confidence[:4], [0.375, 0.5, 19 / 48, 0.25], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        result.variability[:4], [0.125, 0.0, math.sqrt(3) / 16, 0.0], rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(result.correctness[:4], [0.5, 1.0, 0.5, 0.0])
    assert np.isnan(result.confidence[4])
    assert np.isnan(result.variability[4])
    assert np.isnan(result.correctness[4])


def test_hand_forgetting_and_first_learned() -> None:
    forgetting = forgetting_events(HAND_LOGITS, HAND_LABELS)
    # Sample 0: correct 1,0,1,0 → 2 events; sample 3 is never correct; sample 4 is unknown.
    assert forgetting.events.tolist() == [2, 0, 0, 0, 0]
    assert forgetting.never_learned.tolist() == [False, False, False, True, False]
    # Sample 2 is wrong at t=0 (the tie goes to class 0) and t=1, correct from t=2 on.
    assert first_learned(HAND_LOGITS, HAND_LABELS).tolist() == [-1, 0, 2, -1, -1]


def test_hand_aum() -> None:
    aum = area_under_margin(HAND_LOGITS, HAND_LABELS)
    # Margins: sample 0 ±log 2 alternating; sample 1 log 2 throughout; sample 2 0, −log 2,
    # log 2, log 2; sample 3 −log 2 throughout.
    np.testing.assert_allclose(aum[:4], [0.0, LOG2, LOG2 / 4, -LOG2], atol=1e-12)
    assert np.isnan(aum[4])
    # On the probabilities the margin is taken on log p: the same numbers.
    aum_p = area_under_margin(HAND_PROBABILITIES, HAND_LABELS, kind="probabilities")
    np.testing.assert_allclose(aum_p[:4], aum[:4], atol=1e-12)


def test_hand_table() -> None:
    table = dynamics_from_outputs(HAND_LOGITS, HAND_LABELS, overlaps=np.full((3, 5), 0.5))
    assert table.n_snapshots == 4
    assert table.n_samples == 5
    assert table.prediction.tolist() == [1, 1, 2, 1, 0]
    assert table.entropy.dtype == np.float32
    assert table.entropy.shape == (4, 5)
    np.testing.assert_allclose(table.neighbour_stability, 0.5)
    assert table.known_label.tolist() == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("sequence", "events", "never"),
    [
        ([1, 0, 1, 0], 2, False),
        ([0, 0, 0], 0, True),
        ([1, 1, 1], 0, False),
        ([0, 1, 1, 0], 1, False),
        ([1], 0, False),
        ([0], 0, True),
        ([1, 0, 0, 1, 0, 1], 2, False),
    ],
)
def test_forgetting_sequences(sequence: list[int], events: int, never: bool) -> None:
    # Gold class 0; a correct snapshot predicts 0, a wrong one predicts 1.
    predictions = np.array([[0 if c else 1] for c in sequence])
    result = forgetting_events(predictions, [0])
    assert result.events.tolist() == [events]
    assert result.never_learned.tolist() == [never]


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [([1, 1, 1], 0), ([0, 1, 1], 1), ([1, 0, 1], 2), ([1, 1, 0], -1), ([0, 0, 0], -1), ([1], 0)],
)
def test_first_learned_sequences(sequence: list[int], expected: int) -> None:
    predictions = np.array([[0 if c else 1] for c in sequence])
    assert first_learned(predictions, [0]).tolist() == [expected]


def test_neighbour_stability_values() -> None:
    np.testing.assert_allclose(
        neighbour_stability([[1.0, 0.0, 0.2], [0.5, 0.0, 0.4]]), [0.75, 0.0, 0.3]
    )
    assert np.isnan(neighbour_stability(np.zeros((0, 2)))).all()


# --------------------------------------------------------------------------------------------
# Naive references: plain loops over samples and snapshots, math-module arithmetic.
# --------------------------------------------------------------------------------------------


def _naive_probabilities(row: list[float]) -> list[float]:
    top = max(row)
    weights = [math.exp(z - top) for z in row]
    total = sum(weights)
    return [w / total for w in weights]


def _naive_argmax(row: list[float]) -> int:
    best = 0
    for c, value in enumerate(row):
        if value > row[best]:
            best = c
    return best


def naive_dynamics(logits: np.ndarray, labels: np.ndarray) -> dict[str, list]:
    n_snapshots, n_samples, n_classes = logits.shape
    out: dict[str, list] = {
        k: [] for k in ("entropy", "conf", "var", "corr", "forget", "never", "aum", "first")
    }
    entropy = [[0.0] * n_samples for _ in range(n_snapshots)]
    for i in range(n_samples):
        gold = int(labels[i])
        gold_p, margins, correct = [], [], []
        for t in range(n_snapshots):
            row = [float(v) for v in logits[t, i]]
            p = _naive_probabilities(row)
            entropy[t][i] = -sum(q * math.log(q) for q in p if q > 0)
            if gold >= 0:
                gold_p.append(p[gold])
                margins.append(row[gold] - max(row[c] for c in range(n_classes) if c != gold))
                correct.append(_naive_argmax(row) == gold)
        if gold < 0:
            for key in ("conf", "var", "corr", "aum"):
                out[key].append(math.nan)
            out["forget"].append(0)
            out["never"].append(False)
            out["first"].append(-1)
            continue
        mean = sum(gold_p) / n_snapshots
        out["conf"].append(mean)
        out["var"].append(math.sqrt(sum((q - mean) ** 2 for q in gold_p) / n_snapshots))
        out["corr"].append(sum(correct) / n_snapshots)
        out["aum"].append(sum(margins) / n_snapshots)
        out["forget"].append(
            sum(1 for t in range(n_snapshots - 1) if correct[t] and not correct[t + 1])
        )
        out["never"].append(not any(correct))
        first = -1
        for t in range(n_snapshots):
            if all(correct[t:]):
                first = t
                break
        out["first"].append(first)
    out["entropy"] = entropy
    return out


def _random_run(seed: int, t: int = 6, n: int = 40, c: int = 4, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(t, n, c))
    labels = rng.integers(-1, c, size=n)
    return logits, labels


def _assert_matches_naive(table: SampleDynamics, logits: np.ndarray, labels: np.ndarray) -> None:
    ref = naive_dynamics(logits, labels)
    np.testing.assert_allclose(table.entropy, ref["entropy"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table.confidence, ref["conf"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table.variability, ref["var"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table.correctness, ref["corr"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.aum, ref["aum"], rtol=1e-10, atol=1e-10)
    assert table.forgetting_events.tolist() == ref["forget"]
    assert table.never_learned.tolist() == ref["never"]
    assert table.first_learned.tolist() == ref["first"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_reference(seed: int) -> None:
    logits, labels = _random_run(seed)
    # Coarse logits make argmax ties and repeated predictions likely.
    if seed == 2:
        logits = np.round(logits)
    table = dynamics_from_outputs(logits, labels)
    _assert_matches_naive(table, logits, labels)
    # The single-measure functions give the table's numbers.
    np.testing.assert_allclose(prediction_entropy(logits), table.entropy, rtol=1e-6, atol=1e-6)
    carto = cartography(logits, labels)
    np.testing.assert_array_equal(carto.confidence, table.confidence)
    np.testing.assert_array_equal(area_under_margin(logits, labels), table.aum)
    assert forgetting_events(logits, labels).events.tolist() == table.forgetting_events.tolist()
    preds = np.argmax(logits, axis=-1)
    assert first_learned(preds, labels).tolist() == table.first_learned.tolist()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matches_naive_reference_hypothesis(data: st.DataObject) -> None:
    t = data.draw(st.integers(1, 5))
    n = data.draw(st.integers(1, 6))
    c = data.draw(st.integers(2, 4))
    logits = data.draw(
        hnp.arrays(np.float64, (t, n, c), elements=st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0]))
        | hnp.arrays(np.float64, (t, n, c), elements=st.floats(-30, 30))
    )
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(-1, c - 1)))
    table = dynamics_from_outputs(logits, labels)
    _assert_matches_naive(table, logits, labels)
    streamed = DynamicsAccumulator(labels, c)
    for snapshot in logits:
        streamed.update(snapshot)
    _assert_tables_equal(streamed.result(), table)


# --------------------------------------------------------------------------------------------
# Streaming == all at once
# --------------------------------------------------------------------------------------------


def _assert_tables_equal(a: SampleDynamics, b: SampleDynamics) -> None:
    assert a.columns() == b.columns()
    assert a.n_snapshots == b.n_snapshots
    assert a.n_samples == b.n_samples
    assert a.kind == b.kind
    for name in ("labels", "prediction", "forgetting_events", "never_learned", "first_learned"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    for name in (
        "entropy",
        "confidence",
        "variability",
        "correctness",
        "aum",
        "neighbour_stability",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["logits", "probabilities"])
@pytest.mark.parametrize("with_labels", [True, False])
def test_accumulator_equals_all_at_once(kind: str, with_labels: bool) -> None:
    logits, labels = _random_run(3, t=7, n=50, c=5)
    outputs = logits if kind == "logits" else softmax(logits)
    overlaps = np.random.default_rng(4).random((6, 50))
    expected = dynamics_from_outputs(
        outputs, labels if with_labels else None, kind=kind, overlaps=overlaps
    )
    acc = DynamicsAccumulator(labels if with_labels else None, 5, kind=kind)
    for t, snapshot in enumerate(outputs):
        acc.update(snapshot, overlap=None if t == 0 else overlaps[t - 1])
    assert acc.n_snapshots == 7
    _assert_tables_equal(acc.result(), expected)


def test_accumulator_kind_on_update_and_add_overlap() -> None:
    logits, labels = _random_run(5, t=4, n=10, c=3)
    overlaps = np.random.default_rng(6).random((3, 10))
    acc = DynamicsAccumulator(labels)  # n_classes and kind from the updates
    for overlap in overlaps:  # overlaps may arrive separately, in any order w.r.t. updates
        acc.add_overlap(overlap)
    for snapshot in softmax(logits):
        acc.update(snapshot, kind="probabilities")
    expected = dynamics_from_outputs(
        softmax(logits), labels, kind="probabilities", overlaps=overlaps
    )
    _assert_tables_equal(acc.result(), expected)


def test_accumulator_result_midway_and_continue() -> None:
    logits, labels = _random_run(7, t=5, n=8, c=3)
    acc = DynamicsAccumulator(labels, 3)
    for snapshot in logits[:2]:
        acc.update(snapshot)
    _assert_tables_equal(acc.result(), dynamics_from_outputs(logits[:2], labels))
    for snapshot in logits[2:]:
        acc.update(snapshot)
    _assert_tables_equal(acc.result(), dynamics_from_outputs(logits, labels))


def test_accumulator_features_kind() -> None:
    overlaps = np.array([[1.0, 0.5], [0.0, 0.5]])
    acc = DynamicsAccumulator([0, -1], kind="features")
    acc.update(None)
    acc.update(None, overlap=overlaps[0])
    acc.update(np.zeros((2, 7)), overlap=overlaps[1])  # features are ignored
    table = acc.result()
    assert table.columns() == ["label", "neighbour_stability"]
    np.testing.assert_allclose(table.neighbour_stability, [0.5, 0.5])
    expected = dynamics_from_outputs(None, [0, -1], kind="features", overlaps=overlaps)
    _assert_tables_equal(table, expected)
    bare = dynamics_from_outputs(np.zeros((3, 2, 7)), kind="features")
    assert (bare.n_snapshots, bare.n_samples, bare.columns()) == (3, 2, [])


def test_accumulator_errors() -> None:
    acc = DynamicsAccumulator([0, 1], 2)
    with pytest.raises(NotEnoughSnapshotsError):
        acc.result()
    with pytest.raises(InvalidParameterError, match="'overlap'"):
        acc.update(np.zeros((2, 2)), overlap=np.ones(2))  # no transition before snapshot 0
    assert acc.n_snapshots == 0  # a refused update changes nothing
    acc.update(np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="N=2"):
        acc.update(np.zeros((3, 2)))
    with pytest.raises(InvalidParameterError, match="C=2"):
        acc.update(np.zeros((2, 3)))
    with pytest.raises(InvalidParameterError, match="'kind'"):
        acc.update(np.full((2, 2), 0.5), kind="probabilities")
    acc.update(np.zeros((2, 2)), overlap=np.ones(2))
    acc.update(np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="all T-1 = 2 transitions"):
        acc.result()
    with pytest.raises(InvalidParameterError, match="'n_classes'"):
        DynamicsAccumulator([0], 1)
    with pytest.raises(InvalidParameterError, match="'labels'"):
        DynamicsAccumulator([0, 2], 2)
    late = DynamicsAccumulator([0, 5])  # C unknown until the first snapshot
    with pytest.raises(InvalidParameterError, match=r"ints in \[-1, 2\]"):
        late.update(np.zeros((2, 3)))


# --------------------------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    logits=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=5).filter(
            lambda s: s[2] >= 2
        ),
        elements=st.floats(-1e4, 1e4),
    ),
    seed=st.integers(0, 2**16),
)
def test_ranges(logits: np.ndarray, seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, logits.shape[2], size=logits.shape[1])
    table = dynamics_from_outputs(logits, labels)
    assert (table.entropy >= 0).all()
    assert (table.entropy <= np.float32(math.log(logits.shape[2]))).all()
    for name in ("confidence", "variability", "correctness"):
        values = getattr(table, name)
        assert ((values >= 0) & (values <= 1)).all(), name
    assert (table.variability <= 0.5).all()
    assert (
        (table.forgetting_events >= 0) & (table.forgetting_events <= logits.shape[0] // 2)
    ).all()
    assert ((table.first_learned >= -1) & (table.first_learned < logits.shape[0])).all()
    # never learned ⇔ correctness 0
    np.testing.assert_array_equal(table.never_learned, table.correctness == 0)


def test_variability_bound_is_reached() -> None:
    # p(gold) alternating between 0 and 1 gives the largest population std, 1/2.
    probabilities = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    carto = cartography(probabilities, [0], kind="probabilities")
    assert carto.variability.tolist() == [0.5]


def test_permutation_invariance() -> None:
    logits, labels = _random_run(11, t=5, n=30, c=4)
    overlaps = np.random.default_rng(12).random((4, 30))
    perm = np.random.default_rng(13).permutation(30)
    table = dynamics_from_outputs(logits, labels, overlaps=overlaps)
    permuted = dynamics_from_outputs(logits[:, perm], labels[perm], overlaps=overlaps[:, perm])
    for name, values in table.to_dict().items():
        np.testing.assert_array_equal(permuted.column(name), values[perm], err_msg=name)


def test_shift_invariance_of_logits() -> None:
    logits, labels = _random_run(14, t=3, n=10, c=3)
    shifted = logits + np.random.default_rng(15).normal(scale=100, size=(3, 10, 1))
    a, b = dynamics_from_outputs(logits, labels), dynamics_from_outputs(shifted, labels)
    np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-9)
    np.testing.assert_allclose(b.aum, a.aum, atol=1e-9)
    np.testing.assert_allclose(b.entropy, a.entropy, atol=1e-5)


def test_aum_sign() -> None:
    rng = np.random.default_rng(16)
    labels = rng.integers(0, 4, size=20)
    logits = rng.normal(size=(5, 20, 4))
    logits[:, np.arange(20), labels] += 10.0  # confidently correct throughout
    assert (area_under_margin(logits, labels) > 0).all()
    wrong = (labels + 1) % 4
    assert (area_under_margin(logits, wrong) < 0).all()


def test_extreme_logits_are_stable() -> None:
    logits = np.array([[[1e300, -1e300, 0.0], [0.0, 0.0, 0.0]]])
    table = dynamics_from_outputs(logits, [0, 2])
    assert np.isfinite(table.entropy).all()
    assert table.entropy[0, 0] == 0.0
    assert table.confidence[0] == 1.0
    assert table.correctness.tolist() == [1.0, 0.0]  # the all-zero tie goes to class 0


def test_probabilities_with_zeros() -> None:
    probabilities = np.array([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]])
    entropy = prediction_entropy(probabilities, kind="probabilities")
    np.testing.assert_allclose(entropy, [[0.0, LOG2]])
    aum = area_under_margin(probabilities, [0, 0], kind="probabilities")
    assert np.isfinite(aum).all()
    assert aum[0] > 700 and aum[1] < -700  # log of the smallest float64 ≈ −708


def test_single_snapshot_entropy_shape() -> None:
    assert prediction_entropy(np.zeros((3, 4))).shape == (3,)
    np.testing.assert_allclose(prediction_entropy(np.zeros((3, 4))), math.log(4))


# --------------------------------------------------------------------------------------------
# Labels and input validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (cartography, "cartography"),
        (forgetting_events, "forgetting_events"),
        (first_learned, "first_learned"),
        (area_under_margin, "area_under_margin"),
    ],
)
def test_labels_required(function, name: str) -> None:
    with pytest.raises(LabelsRequiredError, match=name):
        function(HAND_LOGITS, None)


def test_table_without_labels() -> None:
    table = dynamics_from_outputs(HAND_LOGITS)
    assert table.columns() == ["prediction", "entropy_first", "entropy_last", "entropy_mean"]
    assert table.aum is None
    assert not table.known_label.any()
    with pytest.raises(LabelsRequiredError, match="'aum'"):
        table.column("aum")
    with pytest.raises(LabelsRequiredError, match="mislabel_ranking"):
        mislabel_ranking(table)
    with pytest.raises(InvalidParameterError, match="'name'"):
        table.column("neighbour_stability")  # not given, unrelated to labels
    with pytest.raises(InvalidParameterError, match="'name'"):
        table.column("no such column")


def test_all_labels_unknown_gives_nan() -> None:
    table = dynamics_from_outputs(HAND_LOGITS, np.full(5, -1))
    assert np.isnan(table.confidence).all()
    assert np.isnan(table.aum).all()
    assert table.forgetting_events.tolist() == [0] * 5
    assert not table.never_learned.any()
    assert table.first_learned.tolist() == [-1] * 5


def test_label_errors_use_the_template() -> None:
    with pytest.raises(InvalidParameterError) as info:
        cartography(HAND_LOGITS, [0, 1, 2, 3, 0])
    assert str(info.value) == (
        "The 'labels' parameter of cartography must be ints in [-1, 2] (-1 = unknown). "
        "Got 3 instead."
    )
    with pytest.raises(InvalidParameterError, match=r"ints in \[-1, 2\]"):
        cartography(HAND_LOGITS, [0, 1, 2, -2, 0])
    with pytest.raises(InvalidParameterError, match="length N=5"):
        cartography(HAND_LOGITS, [0, 1])
    with pytest.raises(InvalidParameterError, match="1-D array of ints"):
        cartography(HAND_LOGITS, [0.0, 1.0, 2.0, 0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="1-D array of ints"):
        cartography(HAND_LOGITS, np.ones(5, dtype=bool))


def test_output_errors() -> None:
    bad = HAND_LOGITS.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(InvalidParameterError, match="Got an array with 1 NaN or infinite"):
        dynamics_from_outputs(bad, HAND_LABELS)
    bad[1, 2, 0] = np.inf
    with pytest.raises(InvalidParameterError, match="'outputs' parameter of cartography"):
        cartography(bad, HAND_LABELS)
    with pytest.raises(InvalidParameterError, match=r"\(T, N, C\)"):
        cartography(HAND_LOGITS[0], HAND_LABELS)
    with pytest.raises(InvalidParameterError, match="C >= 2"):
        cartography(np.zeros((2, 3, 1)), [0, 0, 0])
    with pytest.raises(NotEnoughSnapshotsError):
        cartography(np.zeros((0, 3, 2)), [0, 0, 0])
    with pytest.raises(InvalidParameterError, match="summing to 1"):
        cartography(HAND_LOGITS, HAND_LABELS, kind="probabilities")
    with pytest.raises(InvalidParameterError, match="'kind'"):
        cartography(HAND_LOGITS, HAND_LABELS, kind="features")
    with pytest.raises(InvalidParameterError, match="'kind'"):
        prediction_entropy(HAND_LOGITS, kind="softmax")
    with pytest.raises(InvalidParameterError, match="'predictions'"):
        forgetting_events(np.zeros((2, 3), dtype=float), [0, 0, 0])
    with pytest.raises(InvalidParameterError, match="'predictions'"):
        forgetting_events(np.array([[0, -1, 0]]), [0, 0, 0])
    with pytest.raises(InvalidParameterError, match="'overlaps'"):
        neighbour_stability([[1.5, 0.0]])
    with pytest.raises(InvalidParameterError, match="'overlaps'"):
        neighbour_stability([[np.nan, 0.0]])
    with pytest.raises(InvalidParameterError, match=r"\(T-1, N\) = \(3, 5\)"):
        dynamics_from_outputs(HAND_LOGITS, HAND_LABELS, overlaps=np.zeros((4, 5)))


# --------------------------------------------------------------------------------------------
# The table: columns, dict, CSV
# --------------------------------------------------------------------------------------------

FULL_HEADER = [
    "id", "label", "prediction", "entropy_first", "entropy_last", "entropy_mean", "confidence",
    "variability", "correctness", "forgetting_events", "never_learned", "aum",
    "neighbour_stability", "first_learned",
]  # fmt: skip


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_round_trip() -> None:
    table = dynamics_from_outputs(HAND_LOGITS, HAND_LABELS, overlaps=np.full((3, 5), 0.25))
    buffer = io.StringIO()
    table.to_csv(buffer, ids=[10, 11, 12, 13, 14])
    text = buffer.getvalue()
    assert text.splitlines()[0].split(",") == FULL_HEADER
    rows = _read_csv(text)
    assert len(rows) == 5
    assert [r["id"] for r in rows] == ["10", "11", "12", "13", "14"]
    first = rows[0]
    assert first["label"] == "0"
    assert first["prediction"] == "1"
    assert first["forgetting_events"] == "2"
    assert first["never_learned"] == "false"
    assert rows[3]["never_learned"] == "true"
    assert first["first_learned"] == "-1"
    assert float(first["confidence"]) == table.confidence[0]  # shortest round-trip repr
    assert float(rows[2]["variability"]) == table.variability[2]
    assert float(first["entropy_mean"]) == pytest.approx(H_SKEWED, rel=1e-6)
    assert float(first["neighbour_stability"]) == 0.25
    # Unknown label: every label-based cell is empty, the others are filled.
    unknown = rows[4]
    filled = {name for name in FULL_HEADER if unknown[name] != ""}
    entropy = {"entropy_first", "entropy_last", "entropy_mean"}
    assert filled == {"id", "prediction", "neighbour_stability", *entropy}
    assert unknown["prediction"] == "0"


def test_csv_to_path_and_default_ids(tmp_path) -> None:
    table = dynamics_from_outputs(HAND_LOGITS)
    path = tmp_path / "dynamics.csv"
    table.to_csv(path)
    rows = _read_csv(path.read_text(encoding="utf-8"))
    assert list(rows[0]) == ["id", "prediction", "entropy_first", "entropy_last", "entropy_mean"]
    assert [r["id"] for r in rows] == ["0", "1", "2", "3", "4"]
    with pytest.raises(InvalidParameterError, match="'ids'"):
        table.to_csv(io.StringIO(), ids=[1, 2])


def test_string_ids_are_quoted() -> None:
    table = dynamics_from_outputs(HAND_LOGITS[:, :2], HAND_LABELS[:2])
    buffer = io.StringIO()
    table.to_csv(buffer, ids=["a,b", "c"])
    assert [r["id"] for r in _read_csv(buffer.getvalue())] == ["a,b", "c"]


def test_to_dict_columns() -> None:
    table = dynamics_from_outputs(HAND_LOGITS, HAND_LABELS)
    data = table.to_dict()
    assert (
        list(data) == table.columns() == [c for c in FULL_HEADER[1:] if c != "neighbour_stability"]
    )
    assert all(v.shape == (5,) for v in data.values())
    np.testing.assert_allclose(data["entropy_first"], table.entropy[0])
    np.testing.assert_allclose(data["entropy_mean"], table.entropy.mean(axis=0), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Mislabel detection
# --------------------------------------------------------------------------------------------


def test_aum_ranks_flipped_labels_first() -> None:
    rng = np.random.default_rng(17)
    n, c, t = 300, 5, 12
    true = rng.integers(0, c, size=n)
    # The network learns the true classes: the true logit grows over training, plus noise.
    growth = np.linspace(0.0, 4.0, t)[:, None]
    logits = rng.normal(size=(t, n, c))
    logits[:, np.arange(n), true] += growth
    flipped = rng.choice(n, size=30, replace=False)
    labels = true.copy()
    labels[flipped] = (true[flipped] + rng.integers(1, c, size=30)) % c
    table = dynamics_from_outputs(logits, labels)
    top = mislabel_ranking(table, top_k=30)
    assert set(top.tolist()) == set(flipped.tolist())
    assert (mislabel_scores(table)[flipped] > 0).all()  # AUM < 0 for every flipped label


def test_mislabel_ranking_order_rules() -> None:
    aum = [0.5, -1.0, np.nan, -1.0, 2.0]
    assert mislabel_ranking(aum).tolist() == [1, 3, 0, 4, 2]  # ties by index, NaN last
    assert mislabel_ranking(aum, top_k=2).tolist() == [1, 3]
    np.testing.assert_array_equal(mislabel_scores(aum), [-0.5, 1.0, np.nan, 1.0, -2.0])
    with pytest.raises(InvalidParameterError, match="'top_k'"):
        mislabel_ranking(aum, top_k=-1)
    with pytest.raises(InvalidParameterError, match="'aum'"):
        mislabel_ranking([[0.0]])


def test_the_earlier_name_sample_dynamics_warns_and_gives_the_same_table():
    from reprdynamics.analysis import dynamics

    logits, labels = HAND_LOGITS, HAND_LABELS
    with pytest.warns(DeprecationWarning, match="dynamics_from_outputs"):
        old = dynamics.sample_dynamics(logits, labels)
    _assert_tables_equal(old, dynamics_from_outputs(logits, labels))
