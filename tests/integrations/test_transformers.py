"""The Hugging Face Trainer callback, on CPU, with a tiny randomly initialised BERT.

Nothing is downloaded: the model is built from a config in the test and the data are
random token ids whose label is a function of one token, so the model can learn it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
pytest.importorskip("accelerate")

from click.testing import CliRunner  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

import reprdynamics as rd  # noqa: E402
from reprdynamics.cli import main  # noqa: E402
from reprdynamics.errors import (  # noqa: E402
    InvalidParameterError,
    LayerNotFoundError,
    RecordingError,
)
from reprdynamics.integrations.sample_ids import ID_KEY, CollateWithIds  # noqa: E402
from reprdynamics.integrations.transformers import ReprDynamicsCallback  # noqa: E402

N, LENGTH, VOCAB = 36, 8, 40
NAMES = ["neg", "neu", "pos"]


def tiny_bert(seed: int = 0, dropout: float = 0.1) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=LENGTH,
        num_labels=3,
        id2label=dict(enumerate(NAMES)),
        label2id={n: i for i, n in enumerate(NAMES)},
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return BertForSequenceClassification(config)


def token_data(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    """Random sentences of 3..LENGTH tokens, padded with 0; the label is token 1 mod 3."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(n, LENGTH))
    lengths = rng.integers(3, LENGTH + 1, size=n)
    mask = (np.arange(LENGTH)[None, :] < lengths[:, None]).astype(np.int64)
    ids = ids * mask
    return {"input_ids": ids, "attention_mask": mask, "label": ids[:, 1] % 3}


def hf_dataset(data: dict[str, np.ndarray]) -> datasets.Dataset:
    # A raw text column the model does not take: the Trainer drops it, so must the probe.
    text = [" ".join(map(str, row)) for row in data["input_ids"]]
    return datasets.Dataset.from_dict({**{k: v.tolist() for k, v in data.items()}, "text": text})


class DictDataset(torch.utils.data.Dataset):
    """A torch dataset of dict examples (the Trainer removes unused keys in its collator)."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data["label"])

    def __getitem__(self, i: int) -> dict:
        return {
            "input_ids": torch.as_tensor(self.data["input_ids"][i]),
            "attention_mask": torch.as_tensor(self.data["attention_mask"][i]),
            "labels": int(self.data["label"][i]),
            "note": f"example {i}",
        }


def training_args(tmp_path, **overrides) -> TrainingArguments:
    options = dict(
        output_dir=str(tmp_path / "trainer"),
        num_train_epochs=3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=5e-3,
        logging_strategy="epoch",
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    options.update(overrides)
    return TrainingArguments(**options)


@torch.no_grad()
def eval_outputs(model, data) -> dict[str, np.ndarray]:
    """Logits, pooler output and the masked token mean of the last layer, in eval mode."""
    model.eval()
    ids = torch.as_tensor(data["input_ids"])
    mask = torch.as_tensor(data["attention_mask"])
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    last = out.hidden_states[-1].numpy()
    m = data["attention_mask"][:, :, None].astype(np.float64)
    mean = (last * m).sum(axis=1) / m.sum(axis=1)
    pooled = model.bert.pooler(out.hidden_states[-1]).numpy()
    return {"logits": out.logits.numpy(), "pooled": pooled, "tokens": mean, "cls": last[:, 0]}


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


LAYERS = {"pooled": "bert.pooler", "tokens": "bert.encoder.layer.1"}


@pytest.mark.parametrize("source", ["datasets", "torch"])
def test_training_pass_records_every_example_under_its_own_row(tmp_path, source):
    # No dropout and a learning rate of 0: the training forward passes then give what an
    # eval pass gives, so every recorded row must be that example's own output, which
    # checks the ids travel with the examples through the shuffled dataloader.
    data = token_data()
    train = hf_dataset(data) if source == "datasets" else DictDataset(data)
    model = tiny_bert(dropout=0.0)
    cb = ReprDynamicsCallback(tmp_path / "run", layers=LAYERS)
    trainer = Trainer(
        model=model,
        args=training_args(tmp_path, learning_rate=0.0, eval_strategy="no"),
        train_dataset=train,
        callbacks=[cb],
    )
    trainer.train()
    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 3 and run.epochs == [0, 1, 2] and run.complete.all()
    assert run.layers == ["logits", *LAYERS]
    assert run.metadata["recorded_by"] == "transformers"
    assert run.metadata["recording_mode"] == "training"
    np.testing.assert_array_equal(run.labels, data["label"])
    assert run.class_names == NAMES
    expected = eval_outputs(model, data)
    for t in range(3):
        for layer in ("logits", "pooled", "tokens"):
            np.testing.assert_allclose(run.read(layer, t), expected[layer], rtol=1e-4, atol=1e-5)
    # The loss the Trainer logged for each epoch is that epoch's snapshot's metric.
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    np.testing.assert_allclose(run.metric("loss"), logged, rtol=1e-6)
    # Nothing of the callback is left on the model or the data.
    assert not model._forward_pre_hooks and not model._forward_hooks
    assert "__getitems__" not in vars(trainer.train_dataset)


def test_evaluation_metrics_join_their_epoch_and_reprdynamics_analyse_reads_the_run(tmp_path):
    data, held_out = token_data(), token_data(n=24, seed=1)
    model = tiny_bert()
    cb = ReprDynamicsCallback(tmp_path / "run", layers={"cls": "bert.encoder.layer.1"}, pool="cls")
    trainer = Trainer(
        model=model,
        args=training_args(tmp_path, num_train_epochs=4),
        train_dataset=hf_dataset(data),
        eval_dataset=hf_dataset(held_out),
        callbacks=[cb],
        compute_metrics=lambda p: {
            "accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())
        },
    )
    trainer.train()
    run = cb.run_
    assert run.n_snapshots == 4 and run.complete.all()
    # The evaluation at each epoch's end is logged after the epoch ended: it is stored
    # with that epoch's snapshot, equal to what the Trainer logged.
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert len(evals) == 4
    np.testing.assert_allclose(run.metric("eval_loss"), [h["eval_loss"] for h in evals])
    np.testing.assert_allclose(run.metric("eval_accuracy"), [h["eval_accuracy"] for h in evals])
    # The outputs change as the model trains, and the first-token pool is position 0.
    assert not np.allclose(run.read("logits", 0), run.read("logits", 3))
    assert run.read("cls", 0).shape == (N, 16)
    result = CliRunner().invoke(main, ["analyse", str(tmp_path / "run"), "--k", "5", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n_samples"] == N and report["n_snapshots"] == 4


def test_probe_pass_over_a_fixed_dataset_in_eval_mode(tmp_path):
    data, probe = token_data(), token_data(n=20, seed=2)
    model = tiny_bert()  # dropout on: the probe pass must run in eval mode to match
    cb = ReprDynamicsCallback(
        tmp_path / "run", layers=LAYERS, probe=hf_dataset(probe), batch_size=7
    )
    trainer = Trainer(
        model=model,
        args=training_args(tmp_path, num_train_epochs=2, eval_strategy="no"),
        train_dataset=hf_dataset(data),
        callbacks=[cb],
    )
    trainer.train()
    run = rd.open_run(tmp_path / "run")
    assert run.n_samples == 20 and run.n_snapshots == 2 and run.complete.all()
    assert run.metadata["recording_mode"] == "probe"
    np.testing.assert_array_equal(run.labels, probe["label"])
    assert [p.n_samples for p in cb.probe_passes_] == [20, 20]
    assert [p.n_batches for p in cb.probe_passes_] == [3, 3]
    assert model.training  # put back in train mode after each pass
    # The last pass ran on the final weights: it equals an eval pass now.
    expected = eval_outputs(model, probe)
    for layer in ("logits", "pooled", "tokens"):
        np.testing.assert_allclose(run.read(layer, 1), expected[layer], rtol=1e-4, atol=1e-5)


def test_every_n_epochs_and_metrics_of_skipped_epochs_are_dropped(tmp_path):
    model = tiny_bert()
    cb = ReprDynamicsCallback(tmp_path / "run", every_n_epochs=2)
    trainer = Trainer(
        model=model,
        args=training_args(tmp_path, num_train_epochs=3, eval_strategy="no"),
        train_dataset=hf_dataset(token_data()),
        callbacks=[cb],
    )
    trainer.train()
    run = rd.open_run(tmp_path / "run")
    assert run.epochs == [0, 2]
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 3
    np.testing.assert_allclose(run.metric("loss"), [logged[0], logged[2]])


def test_collator_never_sees_the_ids_and_the_batch_carries_them():
    seen = []

    def collate(features):
        seen.extend(features)
        return {"x": torch.stack([f["x"] for f in features])}

    wrapped = CollateWithIds(collate, "index")
    batch = wrapped([{"x": torch.zeros(2), ID_KEY: 5, "index": 5}, {"x": torch.ones(2), ID_KEY: 2}])
    assert all(ID_KEY not in f and "index" not in f for f in seen)
    assert batch[ID_KEY].tolist() == [5, 2]
    with pytest.raises(RecordingError, match="'index' field holds str"):
        wrapped([{"x": torch.zeros(2), ID_KEY: "a"}])


def test_bad_setups_fail_clearly_before_training(tmp_path):
    with pytest.raises(InvalidParameterError, match="pool"):
        ReprDynamicsCallback(tmp_path / "a", pool="median")
    with pytest.raises(InvalidParameterError, match="every_n_epochs"):
        ReprDynamicsCallback(tmp_path / "a", every_n_epochs=0)
    trainer = Trainer(
        model=tiny_bert(),
        args=training_args(tmp_path, eval_strategy="no"),
        train_dataset=hf_dataset(token_data()),
        callbacks=[ReprDynamicsCallback(tmp_path / "b", layers={"h": "bert.encoder.layer.9"})],
    )
    with pytest.raises(LayerNotFoundError, match=r"bert\.encoder\.layer\.9.*Did you mean"):
        trainer.train()

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            data = token_data()
            for i in range(N):
                yield {k: torch.as_tensor(v[i]) for k, v in data.items()}

    trainer = Trainer(
        model=tiny_bert(),
        args=training_args(tmp_path, eval_strategy="no", max_steps=2),
        train_dataset=Stream(),
        callbacks=[ReprDynamicsCallback(tmp_path / "c", n_samples=N)],
    )
    with pytest.raises(InvalidParameterError, match="probe pass instead"):
        trainer.train()


DDP_SCRIPT = """
import sys
import numpy as np
import torch
from transformers import Trainer
sys.path.insert(0, {tests!r})
from test_transformers import hf_dataset, tiny_bert, token_data, training_args
from reprdynamics.integrations.transformers import ReprDynamicsCallback
from pathlib import Path

tmp = Path({tmp!r})
data = token_data(n={n})
cb = ReprDynamicsCallback(tmp / "run", layers={{"pooled": "bert.pooler"}})
args = training_args(tmp, learning_rate=0.0, eval_strategy="no", ddp_backend="gloo")
model = tiny_bert(dropout=0.0)
trainer = Trainer(model=model, args=args, train_dataset=hf_dataset(data), callbacks=[cb])
trainer.train()
print("rank", args.process_index, "of", args.world_size, "done")
"""


def test_ddp_on_two_cpu_processes_records_every_example_once(tmp_path):
    # 37 examples in batches of 8 over 2 processes: accelerate deals out 5 batches and
    # fills the last ones with examples from the epoch's start; those are left out, so
    # each example is recorded once, by the process that trained on it.
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    n = 37
    with socket.socket() as sock:  # a free port for the processes to meet on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "ddp.py"
    tests = str(Path(__file__).parent)
    script.write_text(DDP_SCRIPT.format(tests=tests, tmp=str(tmp_path), n=n))
    # In a session of its own, so a hang kills the workers too, not only the launcher.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={port}",
            str(script),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the DDP run hung:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    assert proc.returncode == 0, stdout[-4000:] + stderr[-4000:]
    assert "rank 0 of 2 done" in stdout and "rank 1 of 2 done" in stdout
    run = rd.open_run(tmp_path / "run")
    data = token_data(n=n)
    assert run.n_snapshots == 3 and run.complete.all()
    model = tiny_bert(dropout=0.0)
    expected = eval_outputs(model, data)
    for t in range(3):
        np.testing.assert_allclose(run.read("logits", t), expected["logits"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.read("pooled", t), expected["pooled"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("n", "batch", "processes"), [(37, 8, 2), (40, 8, 2), (50, 4, 3), (5, 8, 2)]
)
def test_the_real_rows_of_each_process_hold_every_example_once(n, batch, processes):
    # accelerate's own shard sampler, iterated as each process iterates it: the first
    # real rows of every process together are every example exactly once.
    from accelerate.data_loader import BatchSamplerShard

    from reprdynamics.integrations.sample_ids import shard_real_rows

    base = torch.utils.data.BatchSampler(range(n), batch_size=batch, drop_last=False)
    seen = []
    for rank in range(processes):
        shard = BatchSamplerShard(base, num_processes=processes, process_index=rank)
        rows = [i for b in shard for i in b]
        loader = type("Loader", (), {"batch_sampler": shard})()
        real = shard_real_rows(loader, n)
        assert real is not None and real <= len(rows)
        seen += rows[:real]
    assert sorted(seen) == list(range(n))


def test_resuming_from_a_checkpoint_continues_the_run(tmp_path):
    data = hf_dataset(token_data())
    first = Trainer(
        model=tiny_bert(),
        args=training_args(tmp_path, num_train_epochs=2, eval_strategy="no", save_strategy="epoch"),
        train_dataset=data,
        callbacks=[ReprDynamicsCallback(tmp_path / "run")],
    )
    first.train()
    checkpoints = (tmp_path / "trainer").glob("checkpoint-*")
    checkpoint = max(checkpoints, key=lambda p: int(p.name.split("-")[1]))  # after epoch 1
    again = Trainer(
        model=tiny_bert(),
        args=training_args(tmp_path, num_train_epochs=4, eval_strategy="no"),
        train_dataset=data,
        callbacks=[ReprDynamicsCallback(tmp_path / "run", recorder_options={"resume": True})],
    )
    again.train(resume_from_checkpoint=str(checkpoint))
    run = rd.open_run(tmp_path / "run")
    assert run.epochs == [0, 1, 2, 3] and run.complete.all()
    assert len(run.metric("loss")) == 4
