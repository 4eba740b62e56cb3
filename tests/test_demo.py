"""The digits demo: what it records, label noise, determinism, and its lazy torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import reprdynamics as rd
from reprdynamics.demo import flip_labels, load_digits_data
from reprdynamics.errors import DependencyMissingError, InvalidParameterError, RunExistsError


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    out = tmp_path_factory.mktemp("demo") / "run"
    lines: list[str] = []
    path = run_demo(out, epochs=3, label_noise=0.2, seed=0, progress=lines.append)
    return path, lines


def test_run_holds_every_snapshot_sample_and_layer(noisy_run):
    path, lines = noisy_run
    run = rd.open_run(path)
    assert run.n_snapshots == 3
    assert run.n_samples == 1797
    assert run.complete.all()
    assert run.epochs == [0, 1, 2]
    assert run.kind == "logits"
    assert run.layers == ["logits", "penultimate"]
    assert run.layer_dim("logits") == 10
    assert run.layer_kind("logits") == "logits"
    assert run.layer_kind("penultimate") == "features"
    assert run.layer_dim("penultimate") == 32
    assert run.class_names == [str(c) for c in range(10)]
    assert np.isfinite(run.read("penultimate", 2)).all()
    # predictions are the argmax of the stored logits
    np.testing.assert_array_equal(run.predictions(1), run.read("logits", 1).argmax(axis=1))
    assert len(lines) == 4 and lines[0].startswith("epoch   1/3")


def test_metrics_per_snapshot_and_learning(noisy_run):
    run = rd.open_run(noisy_run[0])
    assert {"loss", "accuracy", "clean_accuracy"} <= set(run.metric_names)
    loss, acc, clean = run.metric("loss"), run.metric("accuracy"), run.metric("clean_accuracy")
    for values in (loss, acc, clean):
        assert values.shape == (3,) and np.isfinite(values).all()
    assert ((acc >= 0) & (acc <= 1)).all()
    assert acc[-1] > acc[0]
    assert clean[-1] > clean[0]
    assert loss[-1] < loss[0]


def test_inputs_labels_and_metadata(noisy_run):
    run = rd.open_run(noisy_run[0])
    images = run.inputs()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    np.testing.assert_array_equal(images, load_digits_data().images)
    meta = run.metadata
    for key in ("dataset", "model", "epochs", "lr", "label_noise", "seed"):
        assert key in meta
    assert meta["epochs"] == 3 and meta["label_noise"] == 0.2 and meta["seed"] == 0


def test_label_noise_is_stored_with_clean_labels(noisy_run):
    run = rd.open_run(noisy_run[0])
    flipped = run.extra("label_flipped")
    clean = run.extra("clean_labels")
    labels = run.labels
    assert flipped.dtype == np.bool_ and flipped.shape == (1797,)
    assert flipped.sum() == round(0.2 * 1797)
    np.testing.assert_array_equal(labels != clean, flipped)  # differ exactly where flipped
    np.testing.assert_array_equal(clean, load_digits_data().labels)
    assert labels.min() >= 0 and labels.max() <= 9


def test_same_seed_same_run(tmp_path):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    a = rd.open_run(run_demo(tmp_path / "a", epochs=2, label_noise=0.1, progress=None))
    b = rd.open_run(run_demo(tmp_path / "b", epochs=2, label_noise=0.1, progress=None))
    for layer in a.layers:
        np.testing.assert_array_equal(a.read(layer, 1), b.read(layer, 1))
    np.testing.assert_array_equal(a.extra("label_flipped"), b.extra("label_flipped"))
    np.testing.assert_array_equal(a.metric("loss"), b.metric("loss"))


def test_no_label_noise_means_no_extras_and_no_clean_accuracy(tmp_path):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    run = rd.open_run(run_demo(tmp_path / "run", epochs=1, progress=None, dtype="float16"))
    assert run.extras == []
    assert "clean_accuracy" not in run.metric_names
    np.testing.assert_array_equal(run.labels, load_digits_data().labels)
    assert run.layer_dtype("penultimate") == np.float16


def test_existing_run_is_not_overwritten_by_accident(tmp_path):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    run_demo(tmp_path / "run", epochs=1, progress=None)
    with pytest.raises(RunExistsError):
        run_demo(tmp_path / "run", epochs=1, progress=None)
    run_demo(tmp_path / "run", epochs=2, progress=None, overwrite=True)
    assert rd.open_run(tmp_path / "run").n_snapshots == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [("epochs", 0), ("label_noise", 1.5), ("hidden_dim", 0), ("batch_size", 0), ("lr", -1.0)],
)
def test_invalid_parameters_name_themselves(tmp_path, name, value):
    pytest.importorskip("torch")
    from reprdynamics.demo import run_demo

    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of run_demo"):
        run_demo(tmp_path / "run", progress=None, **{name: value})
    assert not (tmp_path / "run").exists()


def test_flip_labels_flips_exactly_the_fraction_to_other_classes():
    labels = np.arange(1000) % 10
    noisy, flipped = flip_labels(labels, 0.25, seed=3)
    assert flipped.sum() == 250
    np.testing.assert_array_equal(noisy != labels, flipped)
    assert ((noisy >= 0) & (noisy < 10)).all()
    again, flipped_again = flip_labels(labels, 0.25, seed=3)
    np.testing.assert_array_equal(again, noisy)
    np.testing.assert_array_equal(flipped_again, flipped)
    untouched, none = flip_labels(labels, 0.0)
    assert not none.any() and (untouched == labels).all()


def test_importing_the_demo_does_not_import_torch():
    code = "import sys, reprdynamics.demo; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_torch_gives_an_install_hint(tmp_path, monkeypatch):
    from reprdynamics.demo import run_demo

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(DependencyMissingError, match=r"pip install 'reprdynamics\[torch\]'"):
        run_demo(tmp_path / "run", progress=None)


def test_build_model_leaves_the_callers_rng_alone():
    torch = pytest.importorskip("torch")
    from reprdynamics.demo import build_model

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = build_model(seed=0)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())
    second = build_model(seed=0)
    for p, q in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(p, q)


def _tree_state(root):
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(root.rglob("*"))
    }


def test_demo_command_refuses_to_overwrite_unless_told(tmp_path):
    from click.testing import CliRunner

    from reprdynamics.cli import main

    out = tmp_path / "run"
    with rd.Recorder(out, n_samples=4) as rec:
        rec.store_batch(np.eye(4), ids=np.arange(4), epoch=0)
        rec.end_snapshot()
    before = _tree_state(out)
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--out", str(out), "--epochs", "1", "--no-serve"])
    assert result.exit_code == 1, result.output
    assert "already exists" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert _tree_state(out) == before
    pytest.importorskip("torch")
    result = runner.invoke(
        main, ["demo", "--out", str(out), "--epochs", "2", "--no-serve", "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert rd.open_run(out).n_snapshots == 2
