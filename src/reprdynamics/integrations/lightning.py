"""A PyTorch Lightning callback that records a run while ``Trainer.fit`` trains.

::

    from reprdynamics.integrations.lightning import ReprDynamicsCallback

    cb = ReprDynamicsCallback("runs/exp1", layers={"penultimate": "net.fc1"}, probe=probe_loader)
    trainer = lightning.Trainer(max_epochs=20, callbacks=[cb])
    trainer.fit(module, train_loader)

With ``probe=None`` the callback records the training pass: the outputs of the training
forward passes, for the ids of each training batch (batches must carry ids: dicts with
``"index"`` or ``(x, y, ids)`` tuples). With a probe ``DataLoader`` it runs a probe pass at
the end of every recorded epoch (eval mode, no grad). See ``docs/recording-modes.md``.

Works with ``lightning`` (``lightning.pytorch``) or the older ``pytorch_lightning``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reprdynamics.errors import (
    DependencyMissingError,
    InvalidParameterError,
    invalid_parameter,
)
from reprdynamics.integrations._callbacks import RealRows, RecordingCallback
from reprdynamics.integrations.torch import (
    LayerRecorder,
    Pool,
    ProbePass,
    real_rows,
    record_probe_pass,
    split_batch,
)
from reprdynamics.recording.recorder import Recorder

try:
    import lightning.pytorch as pl
except ImportError:
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError as exc:  # pragma: no cover - exercised when the extra is missing
        raise DependencyMissingError(
            "The Lightning callback (reprdynamics.integrations.lightning) needs the optional "
            "dependency 'lightning', which is not installed. Install it with: "
            "pip install 'reprdynamics[lightning]'"
        ) from exc

__all__ = ["ReprDynamicsCallback"]


def _dataset_length(loader: Any) -> int | None:
    """N of a DataLoader (or of the single loader inside a Lightning CombinedLoader)."""
    iterables = getattr(loader, "iterables", None)
    if iterables is not None:
        if isinstance(iterables, Mapping):
            iterables = list(iterables.values())
        if isinstance(iterables, Sequence) and len(iterables) == 1:
            loader = iterables[0]
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None  # type: ignore[arg-type]
    except TypeError:
        return None


def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in metrics.items():
        numel = getattr(value, "numel", None)
        if callable(numel) and numel() != 1:
            continue
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class ReprDynamicsCallback(pl.Callback, RecordingCallback):
    """Record per-sample outputs of named modules into a run during ``Trainer.fit``.

    Parameters
    ----------
    run_dir
        Where the run is created.
    layers
        Modules to record, named as in ``pl_module.named_modules()`` (so a network held as
        ``self.net`` has modules ``"net.fc1"``, ...): a list, or a mapping
        ``{run layer name: module name}``. The module's own output (``""``) is recorded as
        the run's output layer too unless ``record_output=False``.
    probe
        None (default): record the training pass. A ``DataLoader`` (not shuffled) over the
        probe set: record a probe pass at the end of each recorded epoch. Batches are dicts
        with ``input_key`` / ``ids_key`` or ``(x, y, ids)`` tuples.
    every_n_epochs
        Record epochs ``0, n, 2n, ...``.
    n_samples
        N. Default: the length of the probe loader's dataset (probe mode) or of the training
        dataloader's dataset (training-pass mode).
    labels, inputs, class_names, kind, output_layer, dtype, overwrite
        Passed to :class:`~reprdynamics.Recorder`.
    pool, record_output
        As for :class:`~reprdynamics.integrations.torch.LayerRecorder`.
    log_metrics
        Store the trainer's scalar ``callback_metrics`` (what ``self.log`` logged, validation
        included) with each snapshot.
    recorder_options
        More keyword arguments for the :class:`~reprdynamics.Recorder` (e.g. ``metadata``,
        or ``background=True`` to write snapshots in a background thread).

    Attributes
    ----------
    recorder_ : Recorder
        The recorder, created when training starts.
    probe_passes_ : list of ProbePass
        Timing of every probe pass (its ``seconds`` is the per-snapshot cost).
    seconds_ : float
        Time spent in the callback (recording, flushing, writing snapshots).

    Notes
    -----
    Training-pass mode records the forward passes of ``training_step`` between
    ``on_train_batch_start`` and ``on_train_batch_end``; validation passes are ignored. If
    ``training_step`` calls a submodule (``self.net(x)``) rather than ``self(x)``, name the
    output module explicitly (``layers={"logits": "net"}``): the LightningModule's own
    forward never runs. Under several processes (DDP), training-pass mode records on every
    rank into the one run (each rank its own ids; the samples a ``DistributedSampler``
    repeats to even out ranks are left out), and probe mode records on global rank 0.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        layers: str | Sequence[str] | Mapping[str, str] | None = None,
        probe: Any = None,
        every_n_epochs: int = 1,
        n_samples: int | None = None,
        labels: Any = None,
        inputs: Any = None,
        class_names: list[str] | None = None,
        kind: str = "logits",
        output_layer: str = "logits",
        record_output: bool = True,
        pool: Pool | Mapping[str, Pool] = "avg",
        input_key: str = "X",
        ids_key: str = "index",
        dtype: str = "float32",
        overwrite: bool = False,
        log_metrics: bool = True,
        recorder_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._store_params(locals())
        if probe is not None and not hasattr(probe, "__iter__"):
            raise invalid_parameter(
                "probe", "ReprDynamicsCallback", "None or an iterable DataLoader", type(probe)
            )
        self.probe_passes_: list[ProbePass] = []
        self.seconds_ = 0.0
        self._hooks: LayerRecorder | None = None
        self._rows = RealRows(None)  # this rank's real samples per epoch, if padded

    # ------------------------------------------------------------------ setup
    def _records(self, trainer: Any) -> bool:
        # Training pass: every rank records its own ids into the one run. Probe pass: the
        # probe loader is not split between ranks, so rank 0 runs it.
        return self.probe is None or bool(trainer.is_global_zero)

    def _rank_options(self, trainer: Any) -> dict[str, Any]:
        if self.probe is not None or trainer.world_size == 1:
            return {}
        return {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "barrier": trainer.strategy.barrier,
        }

    def _open_recorder(self, trainer: Any) -> Recorder:
        if self.recorder_ is not None and self._open:
            return self.recorder_
        if self.recorder_ is not None:  # a second fit: keep appending to the same run
            self.recorder_ = self._resumed_recorder(**self._rank_options(trainer))
        else:
            n = self.n_samples
            if n is None:
                source = self.probe if self.probe is not None else trainer.train_dataloader
                n = _dataset_length(source)
            if n is None:
                where = "probe loader" if self.probe is not None else "training dataloader"
                raise InvalidParameterError(
                    f"ReprDynamicsCallback cannot tell the number of samples from the {where} "
                    f"(it has no sized .dataset); pass n_samples=..."
                )
            self.recorder_ = self._new_recorder(
                n_samples=n, recorded_by="lightning", **self._rank_options(trainer)
            )
        self._open = True
        return self.recorder_

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        started = time.perf_counter()
        if self._records(trainer):
            recorder = self._open_recorder(trainer)
            if self.probe is None:
                hooks = LayerRecorder(
                    pl_module,
                    recorder,
                    self.layers,
                    record_output=self.record_output,
                    pool=self.pool,
                    require_ids=False,
                )
                if trainer.world_size > 1 and "" in hooks.layers.values():
                    recorder.abort()
                    raise InvalidParameterError(
                        "Under several processes Lightning runs training_step through the "
                        "LightningModule's own forward, so its output is not the network's. "
                        "Name the module that produces the outputs, e.g. layers={'logits': "
                        "'net', ...}, and pass record_output=False."
                    )
                self._hooks = hooks.attach()
                sampler = getattr(trainer.train_dataloader, "sampler", None)
                self._rows = RealRows(real_rows(sampler, recorder.n_samples))
            else:
                # Check the layer names now rather than after the first epoch of training.
                LayerRecorder(
                    pl_module,
                    recorder,
                    self.layers,
                    record_output=self.record_output,
                    pool=self.pool,
                )
        self.seconds_ += time.perf_counter() - started

    # ------------------------------------------------------------------ training pass
    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._hooks is None:
            return
        started = time.perf_counter()
        _, ids = split_batch(batch, input_key=self.input_key, ids_key=self.ids_key)
        keep = self._rows.keep(trainer.current_epoch, ids)  # a padding DistributedSampler
        self._hooks.set_batch(ids, epoch=trainer.current_epoch, step=trainer.global_step, keep=keep)
        self.seconds_ += time.perf_counter() - started

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._hooks is not None:
            self._hooks.clear_batch()

    # ------------------------------------------------------------------ snapshots
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._records(trainer) or self.recorder_ is None:
            return
        started = time.perf_counter()
        epoch = trainer.current_epoch
        metrics = _scalar_metrics(trainer.callback_metrics) if self.log_metrics else None
        if self._hooks is not None:
            if self.recorder_.should_record(epoch):
                self._hooks.end_snapshot(metrics, epoch=epoch, step=trainer.global_step)
        elif self.recorder_.should_record(epoch):
            with trainer.precision_plugin.forward_context():
                result = record_probe_pass(
                    pl_module,
                    self.probe,
                    self.recorder_,
                    layers=self.layers,
                    epoch=epoch,
                    step=trainer.global_step,
                    device=pl_module.device,
                    metrics=metrics,
                    record_output=self.record_output,
                    pool=self.pool,
                    input_key=self.input_key,
                    ids_key=self.ids_key,
                )
            self.probe_passes_.append(result)
        self.seconds_ += time.perf_counter() - started

    # ------------------------------------------------------------------ the end
    def _close(self, *, failed: bool) -> None:
        if self._hooks is not None:
            self._hooks.remove(flush=not failed)
            self._hooks = None
        self._close_recorder(failed=failed)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._close(failed=False)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # Snapshots written so far stay; the half-assembled one is dropped.
        self._close(failed=True)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self._close(failed=False)
