"""Imports of other tools' recordings: TensorBoard projector checkpoints, dataset cartography.

The projector inputs are written by ``torch.utils.tensorboard.SummaryWriter.add_embedding``
itself; the cartography inputs by the call the original code makes
(``selection_utils.log_training_dynamics``: a pandas ``DataFrame.to_json(lines=True,
orient="records")`` of ``guid``, ``logits_epoch_<e>`` and ``gold``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import reprdynamics as rd
from reprdynamics.cli import main
from reprdynamics.errors import CorruptRunError, InvalidParameterError, RunNotFoundError
from reprdynamics.recording.imports import (
    import_cartography,
    import_projector,
    read_projector_metadata,
    read_projector_tensors,
)

torch = pytest.importorskip("torch")
tensorboard = pytest.importorskip("torch.utils.tensorboard", reason="needs tensorboard")

N = 7
STEPS = [0, 5, 12]
ANIMALS = ["dog", "cat", "dog", "bird", "cat", "dog", "bird"]
CLASSES = [2, 0, 2, 1, 0, 2, 1]


# ------------------------------------------------------------------- projector
def _write_projector(log_dir: Path, *, steps=STEPS, n=N, seed=0, nan_at=None) -> dict:
    """Two tags per step, as a training script would log them; returns what was logged."""
    rng = np.random.default_rng(seed)
    logged: dict = {"hidden": [], "logits": []}
    writer = tensorboard.SummaryWriter(str(log_dir))
    for step in steps:
        hidden = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
        logits = torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32))
        if nan_at == step:
            hidden[2, 1] = float("nan")
        writer.add_embedding(hidden, metadata=ANIMALS[:n], global_step=step, tag="net/hidden")
        writer.add_embedding(
            logits,
            metadata=[[c, a] for c, a in zip(CLASSES[:n], ANIMALS[:n], strict=True)],
            metadata_header=["class", "animal"],
            global_step=step,
            tag="logits",
        )
        logged["hidden"].append(hidden.numpy())
        logged["logits"].append(logits.numpy())
    writer.close()
    return logged


@pytest.fixture
def log_dir(tmp_path) -> Path:
    path = tmp_path / "tb"
    _write_projector(path)
    return path


def _tsv(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter="\t", dtype=np.float64, ndmin=2).astype(np.float32)


def test_writer_layout_is_what_the_importer_reads(log_dir):
    # The facts the importer relies on, as torch's writer produces them.
    assert sorted(p.name for p in log_dir.iterdir() if p.is_dir()) == ["00000", "00005", "00012"]
    assert sorted(p.name for p in (log_dir / "00005").iterdir()) == ["logits", "net%2fhidden"]
    config = (log_dir / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "net/hidden:00005"' in config
    assert 'tensor_path: "00005/net%2fhidden/tensors.tsv"' in config
    assert (log_dir / "00000/logits/metadata.tsv").read_text().splitlines()[0] == "class\tanimal"


def test_projector_one_tag_equals_the_source_files(tmp_path, log_dir):
    logged = _write_projector(tmp_path / "again")  # same seed: the same values
    run = import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert run.n_snapshots == len(STEPS)
    assert [s.step for s in run.snapshots] == STEPS
    assert run.epochs == [0, 1, 2]
    assert run.layers == ["net.hidden"]
    assert run.kind == "features" and run.output_layer == "net.hidden"
    for t, step in enumerate(STEPS):
        source = _tsv(log_dir / f"{step:05d}" / "net%2fhidden" / "tensors.tsv")
        np.testing.assert_array_equal(run.read("net.hidden", t), source)
        np.testing.assert_array_equal(run.read("net.hidden", t), logged["hidden"][t])
        assert (run.predictions(t) == -1).all()  # features: no predictions
    assert run.class_names == ["bird", "cat", "dog"]  # sorted distinct values
    names = np.array(run.class_names)
    assert names[run.labels].tolist() == ANIMALS
    assert run.metadata["tags"] == {"net.hidden": "net/hidden"}
    assert run.metadata["label_column"] == "label"
    assert run.complete.all()
    reopened = rd.open_run(tmp_path / "run")
    np.testing.assert_array_equal(reopened.read("net.hidden", 2), logged["hidden"][2])


def test_projector_several_tags_first_is_the_output_layer(tmp_path, log_dir):
    run = rd.import_projector(
        log_dir,
        tmp_path / "run",
        tag=["logits", "net/hidden"],
        kind="logits",
        label_column="class",
        layer="out",
    )
    assert sorted(run.layers) == ["net.hidden", "out"]
    assert run.output_layer == "out" and run.kind == "logits"
    assert run.layer_kind("out") == "logits" and run.layer_kind("net.hidden") == "features"
    assert run.labels.tolist() == CLASSES  # integer labels are class ids
    assert run.class_names == ["0", "1", "2"]
    for t, step in enumerate(STEPS):
        logits = _tsv(log_dir / f"{step:05d}" / "logits" / "tensors.tsv")
        np.testing.assert_array_equal(run.read("out", t), logits)
        np.testing.assert_array_equal(run.predictions(t), logits.argmax(axis=1))
        hidden = _tsv(log_dir / f"{step:05d}" / "net%2fhidden" / "tensors.tsv")
        np.testing.assert_array_equal(run.read("net.hidden", t), hidden)
    assert run.metadata["tags"] == {"out": "logits", "net.hidden": "net/hidden"}


def test_projector_every_tag_by_default_for_features(tmp_path, log_dir):
    run = import_projector(log_dir, tmp_path / "run", label_column="animal")
    assert sorted(run.layers) == ["logits", "net.hidden"]
    assert run.output_layer == "logits"  # sorted tags, the first is the output
    assert np.array(run.class_names)[run.labels].tolist() == ANIMALS


def test_projector_class_names_and_no_labels(tmp_path, log_dir):
    run = import_projector(
        log_dir,
        tmp_path / "a",
        tag="logits",
        kind="logits",
        label_column="animal",
        class_names=["dog", "cat", "bird"],
    )
    assert run.class_names == ["dog", "cat", "bird"]
    assert np.array(run.class_names)[run.labels].tolist() == ANIMALS
    run = import_projector(log_dir, tmp_path / "b", tag="net/hidden", labels=False)
    assert not run.has_labels


def test_projector_one_column_header_and_untagged(tmp_path):
    log_dir = tmp_path / "tb"
    writer = tensorboard.SummaryWriter(str(log_dir))
    mats = [torch.randn(5, 3) for _ in range(2)]
    for step, mat in enumerate(mats):
        # A one-column header: torch writes it as a first line without a tab.
        writer.add_embedding(
            mat, metadata=[[c] for c in "abcab"], metadata_header=["letter"], global_step=step
        )
    writer.close()
    meta = read_projector_metadata(log_dir / "00000" / "default" / "metadata.tsv", 5)
    assert meta.columns == ("letter",)
    run = import_projector(log_dir, tmp_path / "run")
    assert run.layers == ["default"]  # add_embedding's default tag
    assert run.class_names == ["a", "b", "c"] and run.labels.tolist() == [0, 1, 2, 0, 1]
    np.testing.assert_array_equal(run.read("default", 1), mats[1].numpy())


def test_projector_reads_what_tensorboard_reads(tmp_path):
    path = tmp_path / "tensors.tsv"
    path.write_text("1\t2.5\r\n\n-3e-2\t4\r\n")  # CRLF and a blank line, skipped
    expected = np.float32([[1, 2.5], [-0.03, 4]])
    np.testing.assert_array_equal(read_projector_tensors(path), expected)
    meta = tmp_path / "metadata.tsv"
    meta.write_text("a\n\nb\n")  # one column: an empty value is an unknown label
    assert read_projector_metadata(meta, 3).column("label") == ["a", "", "b"]


def _replace_cell(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split("\t")
    cells[column - 1] = value
    lines[line - 1] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda p: p.write_text(p.read_text().replace("\t", "", 1)),
            "ragged: line 1 has 3 values, 6 of its 7 rows have 4",
        ),
        (lambda p: _replace_cell(p, 4, 2, "abc"), "line 4, column 2 holds 'abc'"),
        (lambda p: _replace_cell(p, 2, 3, ""), "line 2, column 3 holds ''"),
        (lambda p: p.write_text(""), "holds no rows: it is empty"),
        (
            lambda p: p.write_text("\n".join(p.read_text().splitlines()[:-1]) + "\n"),
            "holds 6 rows, but step 0 holds 7",
        ),
    ],
    ids=["ragged", "non-numeric", "empty-cell", "empty", "row-count"],
)
def test_projector_refuses_damaged_tensors(tmp_path, log_dir, damage, message):
    tensors = log_dir / "00005" / "net%2fhidden" / "tensors.tsv"
    damage(tensors)
    with pytest.raises(CorruptRunError, match=message) as info:
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert str(tensors) in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing is written for a refused source


def test_projector_refuses_nan(tmp_path):
    log_dir = tmp_path / "tb"
    _write_projector(log_dir, nan_at=5)
    with pytest.raises(CorruptRunError, match=r"holds nan at line 3, column 2.*NaN") as info:
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert "00005" in str(info.value)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ((5, 3), r"00001.*holds 5 rows, but step 0 holds 6"),
        ((6, 2), r"00001.*holds 2 values per row.*holds 3"),
    ],
    ids=["rows", "values-per-row"],
)
def test_projector_refuses_steps_of_different_sizes(tmp_path, second, message):
    log_dir = tmp_path / "tb"
    writer = tensorboard.SummaryWriter(str(log_dir))
    writer.add_embedding(torch.randn(6, 3), global_step=0)
    writer.add_embedding(torch.randn(*second), global_step=1)
    writer.close()
    with pytest.raises(CorruptRunError, match=message):
        import_projector(log_dir, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_projector_refuses_an_incomplete_log_dir(tmp_path, log_dir):
    # A step folder lost (e.g. a partial copy) while the config still lists it.
    for path in sorted((log_dir / "00005").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (log_dir / "00005").rmdir()
    with pytest.raises(CorruptRunError, match=r"lists the embedding 'net/hidden:00005'") as info:
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert "projector_config.pbtxt" in str(info.value)
    (log_dir / "projector_config.pbtxt").unlink()  # without a config: the steps found
    run = import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert [s.step for s in run.snapshots] == [0, 12]


def test_projector_refuses_metadata_that_does_not_fit(tmp_path, log_dir):
    meta = log_dir / "00012" / "net%2fhidden" / "metadata.tsv"
    meta.write_text("\n".join(ANIMALS[:-1]) + "\n")
    with pytest.raises(CorruptRunError, match=r"describes 6 samples.*holds 7 rows") as info:
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    assert str(meta) in str(info.value)
    meta.write_text("\n".join(["cat", *ANIMALS[1:]]) + "\n")  # sample 0 changed its label
    with pytest.raises(CorruptRunError, match="same samples in the same order"):
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    ragged = log_dir / "00012" / "logits" / "metadata.tsv"
    ragged.write_text(ragged.read_text().replace("\tdog", "", 1))
    with pytest.raises(CorruptRunError, match="ragged: line 2 has 1 cells"):
        import_projector(log_dir, tmp_path / "run", tag="logits", label_column="class")
    assert not (tmp_path / "run").exists()


def test_projector_refuses_bad_choices(tmp_path, log_dir):
    with pytest.raises(InvalidParameterError, match=r"'tag'.*several tags"):
        import_projector(log_dir, tmp_path / "run", kind="logits")
    with pytest.raises(InvalidParameterError, match="one of the tags"):
        import_projector(log_dir, tmp_path / "run", tag="nope")
    with pytest.raises(InvalidParameterError, match=r"'label_column'.*\['class', 'animal'\]"):
        import_projector(log_dir, tmp_path / "run", tag="logits")
    with pytest.raises(InvalidParameterError, match=r"'label_column'.*Got 'species'"):
        import_projector(log_dir, tmp_path / "run", tag="logits", label_column="species")
    with pytest.raises(InvalidParameterError, match="'kind'"):
        import_projector(log_dir, tmp_path / "run", kind="embeddings")
    with pytest.raises(InvalidParameterError, match="'run_dir'"):
        import_projector(log_dir, log_dir / "inside")
    with pytest.raises(CorruptRunError, match="not among class_names"):
        import_projector(log_dir, tmp_path / "run", tag="net/hidden", class_names=["dog", "cat"])
    assert not (tmp_path / "run").exists()


def test_projector_refuses_missing_and_empty_sources(tmp_path, log_dir):
    with pytest.raises(RunNotFoundError, match="No TensorBoard log directory"):
        import_projector(tmp_path / "absent", tmp_path / "run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunNotFoundError, match="holds no TensorBoard projector checkpoints"):
        import_projector(tmp_path / "empty", tmp_path / "run")
    with pytest.raises(RunNotFoundError, match="sub-directories 'tb' hold projector configs"):
        import_projector(log_dir.parent, tmp_path / "run")
    hidden = log_dir / "00005" / "net%2fhidden"
    for name in ("tensors.tsv", "metadata.tsv"):
        (hidden / name).unlink()
    hidden.rmdir()
    with pytest.raises(CorruptRunError, match=r"Step 5 .* holds no embedding of tag 'net/hidden'"):
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    # The config lists the removed embedding: the log directory is incomplete.
    (log_dir / "00005" / "logits" / "tensors.tsv").unlink()
    with pytest.raises(CorruptRunError, match=r"holds no tensors\.tsv"):
        import_projector(log_dir, tmp_path / "run", tag="logits", label_column="class")
    assert not (tmp_path / "run").exists()


def test_projector_respects_an_existing_run(tmp_path, log_dir):
    import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    with pytest.raises(rd.errors.RunExistsError):
        import_projector(log_dir, tmp_path / "run", tag="net/hidden")
    run = import_projector(log_dir, tmp_path / "run", tag="logits", labels=False, overwrite=True)
    assert run.layers == ["logits"]


# ------------------------------------------------------------------ cartography
def _log_training_dynamics(output_dir: Path, epoch, train_ids, train_logits, train_golds):
    """What allenai/cartography's ``selection_utils.log_training_dynamics`` writes."""
    frame = pd.DataFrame(
        {"guid": train_ids, f"logits_epoch_{epoch}": train_logits, "gold": train_golds}
    )
    logging_dir = output_dir / "training_dynamics"
    logging_dir.mkdir(parents=True, exist_ok=True)
    frame.to_json(logging_dir / f"dynamics_epoch_{epoch}.jsonl", lines=True, orient="records")


GUIDS = {
    "int": [4734364254410, 1355224458312, 2047030603311, 13042995210, 7, 254178173411],
    "str": ["ex-3", "ex-10", "ex-1", "b", "a", "ex-2"],
}
GOLD = [0, 1, 2, 2, 1, 0]


def _write_dynamics(output_dir: Path, guids, epochs=(0, 1, 2, 3), seed=0) -> None:
    rng = np.random.default_rng(seed)
    for epoch in epochs:
        order = rng.permutation(len(guids))  # the training loader shuffles every epoch
        logits = rng.normal(size=(len(guids), 3)) + epoch * np.eye(3)[GOLD]
        _log_training_dynamics(
            output_dir,
            epoch,
            [guids[i] for i in order],
            [logits[i].tolist() for i in order],
            [GOLD[i] for i in order],
        )


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("guid_type", ["int", "str"])
def test_cartography_equals_the_source_files(tmp_path, guid_type):
    guids = GUIDS[guid_type]
    _write_dynamics(tmp_path / "out", guids)
    dynamics = tmp_path / "out" / "training_dynamics"
    run = rd.import_cartography(dynamics, tmp_path / "run")
    assert run.kind == "logits" and run.layers == ["logits"] and run.output_layer == "logits"
    assert run.epochs == [0, 1, 2, 3]
    assert run.n_samples == len(guids)
    stored = run.extra("guid").tolist()
    assert stored == sorted(guids)  # ids are the guids in sorted order
    if guid_type == "int":
        assert run.extra("guid").dtype == np.int64
    id_of = {g: i for i, g in enumerate(stored)}
    gold = {g: GOLD[i] for i, g in enumerate(guids)}
    assert run.labels.tolist() == [gold[g] for g in stored]
    for t in range(4):
        values = run.read("logits", t)
        for record in _records(dynamics / f"dynamics_epoch_{t}.jsonl"):
            i = id_of[record["guid"]]
            np.testing.assert_array_equal(
                values[i], np.float32(record[f"logits_epoch_{t}"]), err_msg=str(record)
            )
            assert run.labels[i] == record["gold"]
        np.testing.assert_array_equal(run.predictions(t), values.argmax(axis=1))
    assert run.metadata["source_format"].startswith("dataset cartography")
    assert run.metadata["guid_extra"] == "guid"


def test_cartography_measures_match_the_original_formulas(tmp_path):
    _write_dynamics(tmp_path / "out", GUIDS["int"])
    run = import_cartography(tmp_path / "out", tmp_path / "run")  # the output dir works too
    table = rd.sample_dynamics(run, neighbour_k=None)
    # train_dy_filtering: confidence = mean p(gold), variability = np.std, correctness.
    logits = np.stack([run.read("logits", t) for t in range(4)]).astype(np.float64)
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    p_gold = probs[:, np.arange(run.n_samples), run.labels]
    np.testing.assert_allclose(table["confidence"], p_gold.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(table["variability"], p_gold.std(axis=0), rtol=1e-4, atol=1e-6)
    correct = logits.argmax(axis=2) == run.labels
    np.testing.assert_allclose(table["correctness"], correct.mean(axis=0))


def test_cartography_sorts_epochs_numerically(tmp_path):
    _write_dynamics(tmp_path / "out", GUIDS["str"], epochs=(0, 2, 10, 1))
    run = import_cartography(tmp_path / "out" / "training_dynamics", tmp_path / "run")
    assert run.epochs == [0, 1, 2, 10]


def _rewrite(path: Path, line: int, change) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[line - 1])
    lines[line - 1] = change(record) if callable(change) else change
    path.write_text("\n".join(lines) + "\n")


def _without(key):
    def change(record):
        record.pop(key)
        return json.dumps(record)

    return change


def _with(key, value):
    def change(record):
        record[key] = value
        return json.dumps(record)

    return change


@pytest.mark.parametrize(
    ("line", "change", "message"),
    [
        (2, _without("gold"), r"line 2 lacks the key\(s\) \['gold'\]"),
        (3, _without("logits_epoch_1"), r"line 3 lacks the key\(s\) \['logits_epoch_1'\]"),
        (1, _with("logits_epoch_1", [0.5, 1.0]), "line 1: 'logits_epoch_1' holds 2 values"),
        (4, _with("logits_epoch_1", [0.5, None, 1.0]), "line 4: 'logits_epoch_1' must be a"),
        (2, '{"guid": 7, "logits_epoch_1": [NaN, 1.0, 2.0], "gold": 0}', "NaN or an infinite"),
        (5, _with("gold", 3), r"line 5: 'gold' must be a class id, an int in \[0, 2\]"),
        (5, _with("gold", "entailment"), "line 5: 'gold' must be a class id"),
        (1, '{"guid": 7, "logits_epoch_1": [1.0, ', "line 1 is not valid JSON"),
        (2, "[1, 2, 3]", "line 2 is not a JSON object"),
    ],
    ids=[
        "no-gold",
        "no-logits",
        "ragged",
        "null",
        "nan",
        "gold-range",
        "gold-type",
        "truncated",
        "array",
    ],
)
def test_cartography_refuses_bad_records(tmp_path, line, change, message):
    _write_dynamics(tmp_path / "out", GUIDS["int"])
    path = tmp_path / "out" / "training_dynamics" / "dynamics_epoch_1.jsonl"
    _rewrite(path, line, change)
    with pytest.raises(CorruptRunError, match=message) as info:
        import_cartography(tmp_path / "out", tmp_path / "run")
    assert repr(str(path)) in str(info.value)
    assert not (tmp_path / "run").exists()


def test_cartography_refuses_inconsistent_epochs(tmp_path):
    guids = GUIDS["int"]
    _write_dynamics(tmp_path / "out", guids)
    dynamics = tmp_path / "out" / "training_dynamics"
    epoch2 = dynamics / "dynamics_epoch_2.jsonl"
    original = epoch2.read_text()
    _rewrite(epoch2, 1, _with("guid", 99))
    with pytest.raises(CorruptRunError, match=r"epoch_2.*guids differ: \[99\] only in the former"):
        import_cartography(dynamics, tmp_path / "run")
    epoch2.write_text(original)
    lines = original.splitlines()
    epoch2.write_text("\n".join(lines[:-1]) + "\n")  # one example fewer
    with pytest.raises(CorruptRunError, match=r"holds 5 examples.*6; their guids differ"):
        import_cartography(dynamics, tmp_path / "run")
    epoch2.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(CorruptRunError, match=r"line 7 repeats the guid .* of line 1"):
        import_cartography(dynamics, tmp_path / "run")
    first = json.loads(lines[0])
    epoch2.write_text(
        "\n".join([json.dumps({**first, "gold": (first["gold"] + 1) % 3}), *lines[1:]]) + "\n"
    )
    with pytest.raises(CorruptRunError, match=r"gives the example .* the gold label"):
        import_cartography(dynamics, tmp_path / "run")
    (dynamics / "dynamics_epoch_2.jsonl").write_text("")
    with pytest.raises(CorruptRunError, match="holds no records: it is empty"):
        import_cartography(dynamics, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cartography_refuses_mixed_guids_and_empty_dirs(tmp_path):
    _log_training_dynamics(tmp_path / "mixed", 0, [1, "b"], [[0.0, 1.0], [1.0, 0.0]], [0, 1])
    with pytest.raises(CorruptRunError, match="mixes int and string guids"):
        import_cartography(tmp_path / "mixed", tmp_path / "run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunNotFoundError, match=r"holds no training dynamics.*dynamics_epoch_<e>"):
        import_cartography(tmp_path / "empty", tmp_path / "run")
    with pytest.raises(RunNotFoundError, match="No training-dynamics directory"):
        import_cartography(tmp_path / "absent", tmp_path / "run")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def runner():
    return CliRunner()


def test_cli_imports_projector_and_analyse_reads_it(tmp_path, log_dir, runner):
    target = str(tmp_path / "run")
    args = ["import", "projector", str(log_dir), target, "--tag", "logits"]
    result = runner.invoke(main, [*args, "--kind", "logits", "--label-column", "class"])
    assert result.exit_code == 0, result.output
    assert "Imported 3 steps of 7 samples" in result.output
    run = rd.open_run(target)
    assert run.kind == "logits" and run.labels.tolist() == CLASSES
    assert [s.step for s in run.snapshots] == STEPS
    result = runner.invoke(main, ["analyse", target, "--k", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n_snapshots"] == 3 and report["n_samples"] == N
    assert "class-transition" in report["fingerprints"]


def test_cli_projector_errors_are_one_line(tmp_path, log_dir, runner):
    result = runner.invoke(main, ["import", "projector", str(log_dir), str(tmp_path / "r")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: The 'label_column' parameter") or (
        "Error:" in result.output and "Traceback" not in result.output
    )
    (log_dir / "00000" / "logits" / "tensors.tsv").write_text("1\tx\n")
    result = runner.invoke(
        main,
        [
            "import",
            "projector",
            str(log_dir),
            str(tmp_path / "r"),
            "--tag",
            "logits",
            "--no-labels",
        ],
    )
    assert result.exit_code == 1
    assert "Error:" in result.output and "'x', which is not a number" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_cli_imports_cartography_and_analyse_reads_it(tmp_path, runner):
    _write_dynamics(tmp_path / "out", GUIDS["str"])
    target = str(tmp_path / "run")
    result = runner.invoke(main, ["import", "cartography", str(tmp_path / "out"), target])
    assert result.exit_code == 0, result.output
    assert "Imported 4 epochs of 6 examples" in result.output
    assert rd.open_run(target).extra("guid").tolist() == sorted(GUIDS["str"])
    result = runner.invoke(main, ["analyse", target, "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "T = 4 (4 complete), N = 6" in result.output
    result = runner.invoke(main, ["import", "cartography", str(tmp_path / "out"), target])
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(
        main, ["import", "cartography", str(tmp_path / "out"), target, "--overwrite"]
    )
    assert result.exit_code == 0, result.output


def test_cli_cartography_errors_are_one_line(tmp_path, runner):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, ["import", "cartography", str(tmp_path / "empty"), "r"])
    assert result.exit_code == 1
    assert "Error:" in result.output and "holds no training dynamics" in result.output
    result = runner.invoke(main, ["import", "cartography", str(tmp_path / "absent"), "r"])
    assert result.exit_code == 2  # click's own usage error: the path does not exist
