"""The sample run bundled with the package (made by scripts/make_sample_run.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import reprdynamics as rd
import reprdynamics.sample as sample_module
from reprdynamics.errors import RunNotFoundError

MAX_BYTES = 5 * 1024 * 1024
REGENERATE = "python scripts/make_sample_run.py"


@pytest.fixture(scope="module")
def sample_run():
    return rd.open_run(rd.sample_run_path())  # read-only: never write into the package


def test_sample_is_small_on_disk():
    path = rd.sample_run_path()
    files = [f for f in path.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < MAX_BYTES
    # allocated blocks, what `du` reports, stay under the limit too
    allocated = sum(getattr(f.stat(), "st_blocks", 0) * 512 for f in files)
    assert allocated < MAX_BYTES
    assert not any(part.startswith(".") for f in files for part in f.relative_to(path).parts)


def test_sample_layers_and_shape(sample_run):
    run = sample_run
    assert run.n_samples == 1797
    assert run.n_snapshots == 20
    assert run.kind == "logits"
    assert run.layers == ["logits", "penultimate"]
    assert run.layer_dim("logits") == 10
    assert run.layer_kind("penultimate") == "features"
    assert run.class_names == [str(c) for c in range(10)]
    assert run.inputs_shape == (1797, 8, 8)
    assert run.inputs([0]).dtype == np.uint8


def test_sample_snapshots_are_complete_with_metrics(sample_run):
    run = sample_run
    assert run.complete.all()
    assert run.epochs == list(range(20))
    for name in ("loss", "accuracy", "clean_accuracy"):
        assert np.isfinite(run.metric(name)).all()
    assert run.metric("accuracy")[-1] > run.metric("accuracy")[0]
    for t, values in run.iter_snapshots("penultimate"):
        assert np.isfinite(values).all(), t


def test_sample_metadata_and_label_noise(sample_run):
    run = sample_run
    meta = run.metadata
    assert meta["epochs"] == 20 and meta["label_noise"] == 0.1 and meta["seed"] == 0
    assert "digits" in meta["dataset"]
    assert meta["bundled_sample"] is True
    flipped = run.extra("label_flipped")
    assert flipped.sum() == round(0.1 * 1797)
    np.testing.assert_array_equal(run.labels != run.extra("clean_labels"), flipped)


def test_missing_sample_names_the_regeneration_command(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_module, "__file__", str(tmp_path / "sample.py"))
    with pytest.raises(RunNotFoundError, match=re.escape(REGENERATE)):
        sample_module.sample_run_path()
    with pytest.raises(FileNotFoundError):  # the builtin a caller may catch
        sample_module.sample_run_path()


def test_sample_holds_no_cached_results():
    cached = sorted(p.name for p in (rd.sample_run_path() / "cache").iterdir())
    assert cached in ([], ["zarr.json"]), (
        f"Something cached results into the bundled sample run ({cached}); analyses must not "
        "write into the package (see metadata 'bundled_sample'). Regenerate it with "
        f"`{REGENERATE}`."
    )
