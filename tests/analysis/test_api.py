"""Run-level analysis: streaming over a run, caching, selection and error handling."""

from __future__ import annotations

import io

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.analysis import api
from reprdynamics.analysis.dynamics import dynamics_from_outputs
from reprdynamics.analysis.fingerprints import (
    class_transition_fingerprint,
    neighbour_state_fingerprint,
    neighbour_transition_fingerprint,
    neighbour_transition_overlaps,
    prediction_disagreement,
)
from reprdynamics.analysis.neighbours import k_nearest_neighbours
from reprdynamics.analysis.similarity import cka_fingerprint
from reprdynamics.errors import (
    InvalidParameterError,
    LayerNotFoundError,
    NotEnoughSnapshotsError,
    UnknownSampleError,
)

N, T, C, H = 120, 6, 4, 7


def _make_run(path, *, n=N, snapshots=T, incomplete=(), seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, n)
    logits = np.empty((snapshots, n, C), dtype=np.float32)
    hidden = np.empty((snapshots, n, H), dtype=np.float32)
    with rd.Recorder(path, n_samples=n, labels=labels) as rec:
        for t in range(snapshots):
            logits[t] = np.eye(C)[labels] * t + rng.normal(size=(n, C))
            hidden[t] = rng.normal(size=(n, H)) + t * 0.1
            ids = np.arange(n) if t not in incomplete else np.arange(n - 3)
            with pytest.warns(UserWarning) if t in incomplete else _nullcontext():
                rec.store_batch(logits[t][ids], ids=ids, epoch=t)
                rec.store_batch(hidden[t][ids], ids=ids, epoch=t, layer="hidden")
                rec.end_snapshot(metrics={"loss": 1.0 / (t + 1)})
    return labels, logits, hidden


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def run_path(tmp_path):
    path = tmp_path / "run"
    labels, logits, hidden = _make_run(path)
    return path, labels, logits, hidden


def _neighbour_stack(snaps, k):
    return np.stack([k_nearest_neighbours(x, k).indices for x in snaps])


def test_each_fingerprint_equals_the_pure_function_on_the_stacked_arrays(run_path):
    path, labels, logits, hidden = run_path
    preds = logits.argmax(axis=2)
    nk = _neighbour_stack(hidden, 5)
    expected = {
        "neighbour-transition": neighbour_transition_fingerprint(neighbour_transition_overlaps(nk)),
        "neighbour-state": neighbour_state_fingerprint(nk),
        "class-transition": class_transition_fingerprint(preds, C),
        "disagreement": prediction_disagreement(preds),
        "cka": cka_fingerprint(list(hidden)),
    }
    for kind, matrix in expected.items():
        fp = rd.fingerprint(path, kind, k=5, layer="hidden", use_cache=False)
        np.testing.assert_allclose(fp.matrix, matrix, atol=1e-6, err_msg=kind)
        assert fp.matrix.shape[0] == (T - 1 if fp.transition else T)
        assert fp.kind == kind


def test_transition_rows_are_labelled_by_epoch_pairs(run_path):
    path, *_ = run_path
    fp = rd.fingerprint(path, "neighbour-transition", k=5)
    assert fp.labels == [f"{t}→{t + 1}" for t in range(T - 1)]
    assert fp.snapshots.tolist() == list(range(T - 1))
    state = rd.fingerprint(path, "neighbour-state", k=5)
    assert state.labels == [str(t) for t in range(T)]


def test_cache_serves_same_parameters_only_and_never_a_stale_state(tmp_path):
    path = tmp_path / "run"
    _make_run(path, snapshots=4)
    first = rd.fingerprint(path, "neighbour-transition", k=5)
    again = rd.fingerprint(path, "neighbour-transition", k=5)
    other_k = rd.fingerprint(path, "neighbour-transition", k=6)
    assert first.params["cached"] is False
    assert again.params["cached"] is True
    np.testing.assert_array_equal(first.matrix, again.matrix)
    assert other_k.params["cached"] is False
    # A new snapshot changes the run state: the cached 3x3 result must not be served.
    rec = rd.Recorder(path, resume=True)
    rng = np.random.default_rng(5)
    rec.store_batch(rng.normal(size=(N, C)), ids=np.arange(N), epoch=10)
    rec.store_batch(rng.normal(size=(N, H)), ids=np.arange(N), epoch=10, layer="hidden")
    rec.close()
    grown = rd.fingerprint(path, "neighbour-transition", k=5)
    assert grown.params["cached"] is False
    assert grown.matrix.shape == (4, 4)
    assert grown.labels[-1] == "3→10"


def test_incomplete_snapshots_are_skipped(tmp_path):
    path = tmp_path / "run"
    _make_run(path, snapshots=5, incomplete=(2,))
    run = rd.open_run(path)
    assert run.complete.tolist() == [True, True, False, True, True]
    fp = rd.fingerprint(run, "disagreement")
    assert fp.snapshots.tolist() == [0, 1, 3, 4]
    transitions = rd.fingerprint(run, "class-transition")
    assert transitions.labels == ["0→1", "1→3", "3→4"]


def test_selection_restricts_every_fingerprint(run_path):
    path, labels, logits, hidden = run_path
    ids = np.arange(0, N, 3)
    fp = rd.fingerprint(path, "neighbour-state", k=4, layer="hidden", samples=ids)
    expected = neighbour_state_fingerprint(_neighbour_stack(hidden[:, ids], 4))
    np.testing.assert_allclose(fp.matrix, expected, atol=1e-12)
    mask = np.zeros(N, dtype=bool)
    mask[ids] = True
    by_mask = rd.fingerprint(path, "disagreement", samples=mask)
    np.testing.assert_allclose(by_mask.matrix, prediction_disagreement(logits.argmax(2)[:, ids]))


def test_bad_parameters_name_the_problem(run_path, tmp_path):
    path, *_ = run_path
    with pytest.raises(InvalidParameterError, match="'k' parameter"):
        rd.fingerprint(path, "neighbour-transition", k=N)
    with pytest.raises(InvalidParameterError, match="'kind' parameter"):
        rd.fingerprint(path, "no-such-kind")
    with pytest.raises(LayerNotFoundError, match="hidden"):
        rd.fingerprint(path, "cka", layer="nope")
    with pytest.raises(UnknownSampleError, match="outside"):
        rd.fingerprint(path, "disagreement", samples=[0, N + 5])
    with pytest.raises(UnknownSampleError, match="empty"):
        rd.fingerprint(path, "disagreement", samples=[])
    with pytest.raises(InvalidParameterError, match="unique"):
        rd.fingerprint(path, "disagreement", samples=[1, 1, 2])
    short = tmp_path / "short"
    _make_run(short, snapshots=1)
    with pytest.raises(NotEnoughSnapshotsError, match="at least 2 complete"):
        rd.fingerprint(short, "class-transition")


def test_sample_dynamics_streams_the_same_table_as_the_pure_function(run_path):
    path, labels, logits, hidden = run_path
    table = rd.sample_dynamics(path, neighbour_k=5)
    nk = _neighbour_stack(logits, 5)
    pure = dynamics_from_outputs(logits, labels, overlaps=neighbour_transition_overlaps(nk))
    for name in (
        "confidence",
        "variability",
        "correctness",
        "aum",
        "forgetting_events",
        "first_learned",
        "neighbour_stability",
    ):
        np.testing.assert_allclose(table[name], getattr(pure, name), atol=1e-5, err_msg=name)
    assert len(table) == N
    buffer = io.StringIO()
    table.to_csv(buffer)
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("id,label,")
    assert len(lines) == N + 1
    assert lines[1].split(",")[0] == "0"


def test_suspected_mislabeled_finds_flipped_labels(tmp_path):
    rng = np.random.default_rng(3)
    n = 300
    true = rng.integers(0, C, n)
    flipped = rng.random(n) < 0.1
    noisy = np.where(flipped, (true + 1) % C, true)
    with rd.Recorder(tmp_path / "r", n_samples=n, labels=noisy) as rec:
        for t in range(5):
            rec.store_batch(
                3 * np.eye(C)[true] + rng.normal(size=(n, C)), ids=np.arange(n), epoch=t
            )
    table = rd.sample_dynamics(tmp_path / "r", neighbour_k=None)
    top = table.suspected_mislabeled(int(flipped.sum()))
    assert flipped[top].mean() > 0.9


def test_rqa_accepts_fingerprints_thresholds_and_a_default_rate(run_path):
    path, *_ = run_path
    fp = rd.fingerprint(path, "cka", layer="hidden")
    by_rate = rd.rqa(fp)
    off = fp.matrix[~np.eye(fp.matrix.shape[0], dtype=bool)]
    assert by_rate.epsilon == pytest.approx(np.quantile(off, 0.1))
    fixed = rd.rqa(fp.matrix, threshold=0.5)
    assert fixed.epsilon == 0.5
    assert 0.0 <= fixed.rr <= 1.0
    boolean = rd.rqa(fp.matrix <= 0.5)
    assert boolean.rr == pytest.approx(fixed.rr)


def test_projection_is_one_pca_for_all_snapshots(run_path):
    path, labels, logits, hidden = run_path
    proj = rd.projection(path, layer="hidden")
    assert proj.coords.shape == (T, N, 2)
    stacked = hidden.reshape(-1, H).astype(np.float64)
    mean = stacked.mean(axis=0)
    # Distances between two points of the same snapshot are preserved up to the
    # discarded components; positions are comparable: project by hand and compare.
    centred = stacked - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    manual = (hidden[2] - mean) @ vt[:2].T
    for c in range(2):
        corr = np.corrcoef(manual[:, c], proj.coords[2][:, c])[0, 1]
        assert abs(corr) > 0.999


def test_runs_opened_read_only_still_cache_where_the_location_is_writable(tmp_path):
    path = tmp_path / "run"
    _make_run(path, snapshots=3)
    run = rd.open_run(path)  # mode "r"
    files_before = sorted(p.name for p in (path / "cache").iterdir())
    fp = api.fingerprint(run, "disagreement")
    assert fp.matrix.shape == (3, 3)
    # The api reopens a writable handle for its cache when the location allows it.
    assert sorted(p.name for p in (path / "cache").iterdir()) != files_before


def test_list_runs_finds_runs_in_a_root(tmp_path):
    _make_run(tmp_path / "b", snapshots=2)
    _make_run(tmp_path / "a", snapshots=2)
    (tmp_path / "not-a-run").mkdir()
    assert [p.name for p in api.list_runs(tmp_path)] == ["a", "b"]
    assert api.list_runs(tmp_path / "a") == [tmp_path / "a"]


def test_the_bundled_sample_is_never_written(tmp_path):
    sample = rd.sample_run_path()
    before = sorted(p.relative_to(sample) for p in sample.rglob("*"))
    fp = rd.fingerprint(sample, "neighbour-transition", k=5)
    assert fp.params["cached"] is False
    assert sorted(p.relative_to(sample) for p in sample.rglob("*")) == before


def test_concurrent_requests_for_the_same_neighbours_do_not_collide(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "run"
    _make_run(path, snapshots=4)
    kinds = ["neighbour-transition", "neighbour-state"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda kind: rd.fingerprint(path, kind, k=5), kinds))
        tables = list(pool.map(lambda _: rd.sample_dynamics(path, neighbour_k=5), range(3)))
    for kind in set(kinds):
        mats = [r.matrix for r, k in zip(results, kinds, strict=True) if k == kind]
        for m in mats[1:]:
            np.testing.assert_array_equal(m, mats[0])
    for table in tables[1:]:
        np.testing.assert_array_equal(
            table["neighbour_stability"], tables[0]["neighbour_stability"]
        )
    assert rd.fingerprint(path, "neighbour-state", k=5).params["cached"] is True


def test_approximate_neighbours_report_recall_also_from_the_cache(tmp_path):
    pytest.importorskip("faiss")
    path = tmp_path / "run"
    _make_run(path, snapshots=3)
    first = rd.fingerprint(path, "neighbour-transition", k=5, backend="approximate")
    assert 0.0 <= first.params["recall"] <= 1.0
    api._MEMO.clear()
    again = rd.fingerprint(path, "neighbour-transition", k=5, backend="approximate")
    assert again.params["cached"] is True
    assert again.params["recall"] == pytest.approx(first.params["recall"])
    stack = api.neighbours(path, k=5, backend="approximate")
    assert stack.params["cached"] is True and "recall" in stack.params


def test_backend_instances_are_keyed_by_their_settings(tmp_path):
    from reprdynamics.analysis.neighbours import KDTreeKNNIndex

    path = tmp_path / "run"
    _make_run(path, snapshots=3)
    a = rd.fingerprint(path, "neighbour-state", k=5, backend=KDTreeKNNIndex())
    b = rd.fingerprint(path, "neighbour-state", k=5, backend=KDTreeKNNIndex())
    c = rd.fingerprint(path, "neighbour-state", k=5, backend=KDTreeKNNIndex(leafsize=8))
    assert (a.params["cached"], b.params["cached"], c.params["cached"]) == (False, True, False)
    assert "leafsize" in b.params["backend"]
    np.testing.assert_array_equal(a.matrix, c.matrix)


def test_only_whole_run_neighbour_stacks_are_written_to_disk(tmp_path):
    path = tmp_path / "run"
    _make_run(path, snapshots=3)
    api.neighbours(path, k=5, samples=np.arange(0, N, 2))
    assert not any(p.name.startswith("neighbours-") for p in (path / "cache").iterdir())
    api.neighbours(path, k=5)
    assert any(p.name.startswith("neighbours-") for p in (path / "cache").iterdir())


def test_label_measures_of_a_run_without_labels_name_the_problem(tmp_path):
    from reprdynamics.errors import LabelsRequiredError

    path = tmp_path / "nolabels"
    with rd.Recorder(path, n_samples=30) as rec:
        for epoch in range(3):
            rec.store_batch(
                np.random.default_rng(epoch).normal(size=(30, 3)), ids=range(30), epoch=epoch
            )
    table = rd.sample_dynamics(path, neighbour_k=5)
    assert "aum" not in table.columns() and "neighbour_stability" in table.columns()
    with pytest.raises(LabelsRequiredError, match="'aum' needs labels"):
        table["aum"]
    with pytest.raises(LabelsRequiredError, match="needs labels"):
        table.suspected_mislabeled(3)


def test_fingerprint_epochs_is_a_deprecated_name_of_labels(run_path):
    fp = api.fingerprint(run_path[0], "disagreement")
    with pytest.warns(DeprecationWarning, match="Fingerprint.labels"):
        assert fp.epochs == fp.labels
