"""The examples run end to end (train, record, analyse) with tiny settings on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import reprdynamics as rd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["--epochs", "3", "--limit", "300", "--threads", "1", "--k", "5"]


def _start(script: str, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), "--out", str(out), *TINY, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=out.parent,
    )


def _finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    return output


def test_cpu_and_gpu_examples_record_analyse_and_print_how_to_serve(tmp_path):
    # Both at once: each is mostly interpreter and import start-up.
    cpu = _start("example_cpu.py", tmp_path / "cpu")
    gpu = _start("example_gpu.py", tmp_path / "gpu")
    outputs = {"cpu": _finish(cpu), "gpu": _finish(gpu)}
    for name, output in outputs.items():
        run = rd.open_run(tmp_path / name)
        assert run.n_snapshots == 3 and run.epochs == [0, 1, 2]
        assert run.n_samples == 300 and run.has_labels and run.has_inputs
        assert run.layers == ["logits", "penultimate"] and run.complete.all()
        assert {"loss", "accuracy", "test_accuracy"} <= set(run.metric_names)
        assert (tmp_path / f"{name}_samples.csv").is_file()
        assert "Recurrence quantification" in output
        assert f"reprdynamics serve {tmp_path / name}" in output
    assert rd.open_run(tmp_path / "cpu").metadata["mode"] == "probe"
    assert rd.open_run(tmp_path / "gpu").metadata["mode"] == "train"
    if not rd.open_run(tmp_path / "gpu").metadata["device"].startswith("cuda"):
        assert "CUDA is not available: falling back to the CPU" in outputs["gpu"]


def test_gpu_example_device_choice(monkeypatch, capsys):
    import importlib.util

    import torch

    # The example puts examples/ on sys.path to import example_cpu; undo both afterwards.
    monkeypatch.setattr(sys, "path", sys.path.copy())
    monkeypatch.delitem(sys.modules, "example_cpu", raising=False)
    spec = importlib.util.spec_from_file_location("example_gpu", EXAMPLES / "example_gpu.py")
    example_gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example_gpu)
    monkeypatch.delitem(sys.modules, "example_cpu", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cuda was given, but CUDA is not available"):
        example_gpu.pick_device("cuda")
    assert example_gpu.pick_device("auto") == torch.device("cpu")
    assert "CUDA is not available: falling back to the CPU" in capsys.readouterr().out
    assert example_gpu.pick_device("cpu") == torch.device("cpu")


def test_transformers_example_records_a_trainer_run_in_both_modes(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    train = _start("example_transformers.py", tmp_path / "train")
    probe = _start("example_transformers.py", tmp_path / "probe", "--mode", "probe")
    outputs = {"train": _finish(train), "probe": _finish(probe)}
    for mode, output in outputs.items():
        run = rd.open_run(tmp_path / mode)
        assert run.n_snapshots == 3 and run.epochs == [0, 1, 2] and run.complete.all()
        assert run.n_samples == 300 and run.has_labels and run.has_inputs
        assert run.layers == ["logits", "penultimate"]
        assert run.class_names == [str(d) for d in range(10)]
        assert {"loss", "eval_loss", "eval_accuracy"} <= set(run.metric_names)
        assert run.metadata["recording_mode"] == ("training" if mode == "train" else "probe")
        assert "Recurrence quantification" in output
        assert f"reprdynamics serve {tmp_path / mode}" in output
