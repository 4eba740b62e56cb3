"""The probe pass: one snapshot recorded with the model in eval mode over a fixed probe set."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from reprdynamics.errors import RecordingError
from reprdynamics.integrations.torch.devices import model_device, to_device
from reprdynamics.integrations.torch.hooks import LayerRecorder
from reprdynamics.integrations.torch.parsing import Pool, split_batch
from reprdynamics.recording.convert import to_ids
from reprdynamics.recording.recorder import Recorder

__all__ = ["ProbePass", "record_probe_pass"]


@dataclass(frozen=True)
class ProbePass:
    """What one probe pass did.

    Attributes
    ----------
    seconds : float
        Wall time of the pass, the snapshot write included.
    n_batches, n_samples : int
        Batches run and distinct sample ids seen (0 when the schedule skipped the epoch).
    snapshot : int or None
        Index of the snapshot written, None when nothing was written (skipped epoch, or
        ``end_snapshot=False``).
    skipped : bool
        The recorder's schedule does not record this epoch; nothing ran.
    """

    seconds: float
    n_batches: int
    n_samples: int
    snapshot: int | None
    skipped: bool = False


def record_probe_pass(
    model: Any,
    loader: Iterable[Any],
    recorder: Recorder,
    *,
    layers: str | Sequence[str] | Mapping[str, str] | None = None,
    epoch: int | None = None,
    step: int | None = None,
    device: Any = None,
    metrics: Mapping[str, Any] | None = None,
    record_output: bool = True,
    pool: Pool | Mapping[str, Pool] = "avg",
    input_key: str = "X",
    ids_key: str = "index",
    end_snapshot: bool = True,
) -> ProbePass:
    """Record one snapshot: the model in eval mode, without grad, over a fixed probe set.

    Parameters
    ----------
    model
        A ``torch.nn.Module``; its train/eval mode (per submodule) is restored afterwards.
    loader
        An iterable of batches (usually a ``DataLoader``, not shuffled) yielding dicts with
        ``input_key`` and ``ids_key`` (``"X"`` and ``"index"``, like ``ReprDataset`` items)
        or ``(x, y, ids)`` tuples. Its ids must cover every sample of the run.
    recorder
        The :class:`~reprdynamics.Recorder`; ``recorder.n_samples`` is the probe-set size.
    layers, record_output, pool
        As for :class:`LayerRecorder`.
    epoch, step
        Stored with the snapshot. An epoch the recorder's schedule skips runs nothing.
    device
        Where inputs are moved (``non_blocking``). Default: the model's device; required
        when the model's parameters span several devices.
    metrics
        Stored with the snapshot (e.g. training loss and accuracy of the epoch).
    end_snapshot
        End (write) the snapshot after the pass (default). False leaves it open, to add
        other layers or batches before ending it yourself.

    Returns
    -------
    ProbePass
        Timing and counts; ``seconds`` is the per-snapshot cost of probe-pass recording.

    Raises
    ------
    RecordingError
        A batch without ids; the loader's ids do not cover the run's samples (the partial
        snapshot is dropped and the recorder closed, earlier snapshots stay on disk); mixed
        devices (see :func:`model_device`).
    LayerNotFoundError
        A layer names no module of the model; the message lists the available ones.
    """
    started = time.perf_counter()
    if epoch is not None and not recorder.should_record(epoch):
        return ProbePass(time.perf_counter() - started, 0, 0, None, skipped=True)
    target = model_device(model, device)
    n = recorder.n_samples
    dataset = getattr(loader, "dataset", None)
    try:
        size = len(dataset) if dataset is not None else None  # type: ignore[arg-type]
    except TypeError:
        size = None
    if size is not None and size < n:
        raise RecordingError(
            f"The probe loader's ids do not cover the run's samples: its dataset holds {size} "
            f"items but the run has {n} samples ({n - size} missing). The probe set must be the "
            f"run's samples, each with its id."
        )
    hooks = LayerRecorder(model, recorder, layers, record_output=record_output, pool=pool)
    covered = np.zeros(n, dtype=bool)
    modes = [(m, m.training) for m in model.modules()]
    n_batches = 0
    model.eval()
    try:
        with torch.no_grad(), hooks:
            for batch in loader:
                x, ids = split_batch(batch, input_key=input_key, ids_key=ids_key)
                hooks.set_batch(ids, epoch=epoch, step=step)
                x = to_device(x, target)
                try:
                    model(x)
                finally:
                    hooks.clear_batch()
                seen = to_ids(ids.cpu() if isinstance(ids, torch.Tensor) else ids)
                # Out-of-range ids are the recorder's to report (when it stores the batch).
                covered[seen[(seen >= 0) & (seen < n)]] = True
                n_batches += 1
    finally:
        for module, training in modes:
            module.training = training
    n_seen = int(covered.sum())
    if n_seen < n:
        missing = np.flatnonzero(~covered)
        recorder.abort()
        raise RecordingError(
            f"The probe loader's ids do not cover the run's samples: {n - n_seen} of {n} are "
            f"missing (e.g. ids {missing[:5].tolist()}). The partial snapshot was dropped and "
            f"the recorder closed; earlier snapshots are safe on disk."
        )
    snapshot = None
    if end_snapshot:
        if hooks.end_snapshot(metrics, epoch=epoch, step=step):
            snapshot = recorder.n_snapshots - 1
    return ProbePass(time.perf_counter() - started, n_batches, n_seen, snapshot)
