"""A Hugging Face Transformers ``TrainerCallback`` that records a run while ``Trainer.train``
trains.

::

    from reprdynamics.integrations.transformers import ReprDynamicsCallback

    cb = ReprDynamicsCallback("runs/exp1", layers={"pooled": "bert.pooler"})
    trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[cb])
    trainer.train()

Every training example's logits (``outputs.logits``) are recorded once per epoch, with the
dataset's labels, the model's class names (``config.id2label``) and the metrics the Trainer
logs. Two modes (``docs/recording-modes.md``):

* **training pass** (``probe=None``, the default): the outputs of the training forward
  passes themselves. The callback tags every example the training dataloader fetches with
  its row in the training dataset (its sample id), carries the ids through the data
  collator beside the batch and takes them off again before the model's forward runs, so
  neither the dataset nor the model has to know about ids.
* **probe pass** (``probe=`` a dataset or a ``DataLoader``): at the end of each recorded
  epoch the model runs in eval mode, without grad, over that fixed dataset.

Hidden layers are recorded by module name (``model.named_modules()``); a ``(batch,
sequence, hidden)`` output is pooled over the sequence (``pool="mean"`` over the tokens the
attention mask keeps, ``"cls"`` the first token, ``"max"``, or a callable).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from reprdynamics.errors import (
    InvalidParameterError,
    RecordingError,
    invalid_parameter,
    parse_int,
    require,
)

_FEATURE = "The Transformers callback (reprdynamics.integrations.transformers)"
# Before torch, accelerate first: the Trainer needs all three, and the extra that brings
# them is [transformers] (transformers itself fails to import some parts without accelerate).
require("accelerate", "transformers", _FEATURE)
transformers = require("transformers", "transformers", _FEATURE)

from reprdynamics.integrations._callbacks import RealRows, RecordingCallback  # noqa: E402
from reprdynamics.integrations.sample_ids import (  # noqa: E402
    ID_KEY,
    CollateWithIds,
    TaggedDataset,
    TaggedFetch,
    data_loader,
    shard_real_rows,
)
from reprdynamics.integrations.torch import (  # noqa: E402
    LayerRecorder,
    ProbePass,
    model_device,
    torch,
)
from reprdynamics.recording.recorder import Recorder  # noqa: E402

__all__ = ["ReprDynamicsCallback"]

_LABEL_KEYS = ("labels", "label", "label_ids")
_POOLS = ("mean", "cls", "max", "flatten", None)


# ---------------------------------------------------------------------------- the data
def _dataset_labels(dataset: Any, n: int) -> np.ndarray | None:
    """``(N,)`` integer labels of a dataset: a label column, attribute or example field."""
    columns = getattr(dataset, "column_names", None)
    values: Any = None
    if isinstance(columns, list):
        name = next((c for c in _LABEL_KEYS if c in columns), None)
        values = None if name is None else list(dataset[name])
    if values is None:
        values = next(
            (getattr(dataset, a) for a in ("labels", "targets") if hasattr(dataset, a)), None
        )
    if values is None:
        values = []
        for i in range(n):
            item = dataset[i]
            key = next((k for k in _LABEL_KEYS if isinstance(item, Mapping) and k in item), None)
            if key is None:
                return None
            values.append(item[key])
    try:
        labels = np.asarray([int(v) for v in values], dtype=np.int64)
    except (TypeError, ValueError):
        return None  # multi-label targets, or labels that are not class ids
    if labels.shape != (n,):
        return None
    labels[labels < 0] = -1  # -100, the Trainer's "ignore", is an unknown label here
    return labels


def _class_names(model: Any) -> list[str] | None:
    id2label = getattr(getattr(model, "config", None), "id2label", None)
    if not isinstance(id2label, Mapping) or not id2label:
        return None
    names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(id2label))]
    if names == [f"LABEL_{i}" for i in range(len(names))]:
        return None  # the config's placeholder names say nothing
    return names


def _forward_inputs(model: Any) -> frozenset[str]:
    """The keyword arguments the model's forward takes, labels left out (no loss)."""
    import inspect

    names = inspect.signature(model.forward).parameters
    return frozenset(
        n for n, p in names.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ) - set(_LABEL_KEYS)


def _scalars(logs: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            continue
        if name != "epoch" and math.isfinite(float(value)):
            out[str(name)] = float(value)
    return out


class ReprDynamicsCallback(transformers.TrainerCallback, RecordingCallback):
    """Record every training example's outputs into a run during ``Trainer.train``.

    Parameters
    ----------
    run_dir
        Where the run is created.
    layers
        Hidden layers to record besides the logits, named as in ``model.named_modules()``
        (``"bert.pooler"``, ``"bert.encoder.layer.1"``): a name, a list, or a mapping
        ``{run layer name: module name}``. The model's ``outputs.logits`` are recorded as
        the run's output layer unless ``record_output=False``.
    probe
        None (default): record the training pass. A dataset (``datasets.Dataset`` or a
        torch ``Dataset`` of dicts) or a ``DataLoader`` (not shuffled) of dict batches:
        record a probe pass over it, in eval mode, at the end of each recorded epoch.
    every_n_epochs
        Record epochs ``0, n, 2n, ...``.
    pool
        How a ``(batch, sequence, hidden)`` output becomes one vector per example:
        ``"mean"`` (default; over the tokens the batch's ``attention_mask`` keeps),
        ``"cls"`` (the first token), ``"max"``, ``"flatten"``, None, or a callable on the
        detached tensor; or a mapping ``{run layer name: one of these}``. Image feature
        maps ``(batch, channels, height, width)`` are pooled over height and width.
    n_samples
        N. Default: the length of the training (or probe) dataset.
    labels
        ``(N,)`` class ids. Default: the dataset's ``labels``/``label`` column (or its
        examples' field), with negative values (the Trainer's ``-100``) taken as unknown.
    class_names
        Default: the model's ``config.id2label`` unless it holds only the placeholder
        ``LABEL_i`` names.
    ids_key
        An example field that holds the example's sample id. Without it (the usual case)
        the id is the example's row in the dataset.
    batch_size, data_collator
        Of the probe pass over a dataset. Default: the Trainer's eval batch size and data
        collator.
    inputs, kind, output_layer, dtype, overwrite
        Passed to :class:`~reprdynamics.Recorder`.
    log_metrics
        Store the scalars the Trainer logs (``loss``, ``learning_rate``, ``eval_*``...)
        with the snapshot of the epoch they belong to.
    recorder_options
        More keyword arguments for the :class:`~reprdynamics.Recorder` (``metadata``,
        ``background=True``, ...).

    Attributes
    ----------
    recorder_ : Recorder
        The recorder, created when training starts.
    probe_passes_ : list of ProbePass
        Timing of every probe pass.
    seconds_ : float
        Time spent in the callback.

    Notes
    -----
    Pass the callback to ``Trainer(callbacks=[...])`` or ``trainer.add_callback`` before
    ``train()``. In the training pass the ids reach the model as one more keyword argument
    of its forward, taken off by a forward pre-hook before the forward runs, and the
    Trainer's own evaluation passes carry none, so they are not recorded. Under several
    processes (DDP through ``torchrun`` or ``accelerate launch``) the training pass is
    recorded on every process into the one run, each its own examples, leaving out those
    accelerate repeats at the end of an epoch to even out the processes; a probe pass runs
    on the main process. If ``train()`` raises, the snapshots written so far stay on disk:
    call :meth:`close` to stop recording.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        layers: str | Sequence[str] | Mapping[str, str] | None = None,
        probe: Any = None,
        every_n_epochs: int = 1,
        pool: Any = "mean",
        n_samples: int | None = None,
        labels: Any = None,
        class_names: list[str] | None = None,
        ids_key: str = "index",
        batch_size: int | None = None,
        data_collator: Any = None,
        inputs: Any = None,
        kind: str = "logits",
        output_layer: str = "logits",
        record_output: bool = True,
        dtype: str = "float32",
        overwrite: bool = False,
        log_metrics: bool = True,
        recorder_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._store_params(locals())
        owner = "ReprDynamicsCallback"
        if batch_size is not None:
            parse_int(batch_size, "batch_size", owner, low=1)
        if probe is not None and not (hasattr(probe, "__iter__") or hasattr(probe, "__getitem__")):
            raise invalid_parameter("probe", owner, "None, a dataset or a DataLoader", type(probe))
        self._check_pool(pool)
        self.probe_passes_: list[ProbePass] = []
        self.seconds_ = 0.0
        self._hooks: LayerRecorder | None = None
        self._handles: list[Any] = []
        self._patched: list[Any] = []  # (loader, collate_fn) and TaggedFetch to undo
        self._state: Any = None
        self._epoch = 0
        self._mask: Any = None
        self._logs: dict[str, float] = {}
        self._ended: int | None = None  # the epoch whose snapshot ended; later logs go to it
        self._rows = RealRows(None)  # this process's real examples per epoch, if padded

    @staticmethod
    def _check_pool(pool: Any) -> None:
        values = pool.values() if isinstance(pool, Mapping) else [pool]
        for value in values:
            if not (callable(value) or value in _POOLS):
                raise invalid_parameter(
                    "pool",
                    "ReprDynamicsCallback",
                    "'mean', 'cls', 'max', 'flatten', None or a callable",
                    value,
                )

    # ------------------------------------------------------------------ pooling
    def _pool_for(self, layer: str) -> Any:
        how = self.pool.get(layer, "mean") if isinstance(self.pool, Mapping) else self.pool
        if callable(how) or how in ("flatten", None):
            return how
        return lambda tensor: self._pooled(tensor, how)

    def _pooled(self, tensor: Any, how: str) -> Any:
        if tensor.ndim <= 2:
            return tensor
        if not tensor.is_floating_point():
            tensor = tensor.float()
        if tensor.ndim > 3:  # an image feature map (B, C, H, W): over the spatial dims
            dims = tuple(range(2, tensor.ndim))
            return tensor.amax(dim=dims) if how == "max" else tensor.mean(dim=dims)
        if how == "cls":
            return tensor[:, 0]
        mask = self._mask
        if mask is None or tuple(mask.shape) != tuple(tensor.shape[:2]):
            return tensor.amax(dim=1) if how == "max" else tensor.mean(dim=1)
        keep = mask.to(device=tensor.device, dtype=torch.bool).unsqueeze(-1)
        if how == "max":
            return tensor.masked_fill(~keep, float("-inf")).amax(dim=1)
        weights = keep.to(tensor.dtype)
        return (tensor * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    @staticmethod
    def _unwrap(module_name: str, output: Any) -> Any:
        """The tensor of what a module returned: ``.logits`` of the model, else the first."""
        if isinstance(output, torch.Tensor):
            return output
        if module_name == "" and getattr(output, "logits", None) is not None:
            return output.logits
        if isinstance(output, Mapping):  # a ModelOutput: its first field that is set
            return next(iter(output.values()), output)
        if isinstance(output, tuple | list) and output:
            return output[0]
        return output

    def _layer_recorder(self, model: Any, recorder: Recorder, **options: Any) -> LayerRecorder:
        hooks = LayerRecorder(
            model,
            recorder,
            self.layers,
            record_output=self.record_output,
            unwrap=self._unwrap,
            **options,
        )
        hooks.pool = {name: self._pool_for(name) for name in hooks.layers}
        return hooks

    # ------------------------------------------------------------------ the recorder
    def _source(self, train_dataloader: Any) -> Any:
        """The dataset examples come from: the probe's, or the training dataloader's."""
        if self.probe is None:
            return data_loader(train_dataloader).dataset
        return getattr(self.probe, "dataset", self.probe)

    def _open_recorder(self, args: Any, model: Any, train_dataloader: Any) -> Recorder:
        rank = (
            {
                "rank": args.process_index,
                "world_size": args.world_size,
                "barrier": torch.distributed.barrier,
            }
            if self.probe is None and args.world_size > 1
            else {}
        )
        if self.recorder_ is not None:  # a second train(): append to the same run
            self.recorder_ = self._resumed_recorder(**rank)
        else:
            source = self._source(train_dataloader)
            n = self.n_samples
            if n is None:
                try:
                    n = len(source)
                except TypeError:
                    raise InvalidParameterError(
                        f"ReprDynamicsCallback cannot tell the number of examples of the "
                        f"{'probe' if self.probe is not None else 'training'} dataset (it has no "
                        f"length); pass n_samples=..."
                    ) from None
            labels = self.labels if self.labels is not None else _dataset_labels(source, n)
            names = self.class_names if self.class_names is not None else _class_names(model)
            self.recorder_ = self._new_recorder(
                n_samples=n,
                recorded_by="transformers",
                labels=labels,
                class_names=names,
                **rank,
            )
        self._open = True
        return self.recorder_

    # ------------------------------------------------------------------ events
    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        started = time.perf_counter()
        self._state = state
        train_dataloader = kwargs.get("train_dataloader")
        if self.probe is None:
            dataset = getattr(data_loader(train_dataloader), "dataset", None)
            if dataset is None or isinstance(dataset, torch.utils.data.IterableDataset):
                raise InvalidParameterError(
                    "ReprDynamicsCallback records the training pass of a map-style training "
                    "dataset (one whose examples have a row), and this one is iterable. Record "
                    "a probe pass instead: ReprDynamicsCallback(..., probe=a_fixed_dataset)."
                )
        if self.probe is None or state.is_world_process_zero:
            recorder = self._open_recorder(args, model, train_dataloader)
            if self.probe is None:
                self._start_training_pass(model, recorder, train_dataloader)
            else:
                self._layer_recorder(model, recorder)  # checks the layer names now
                if self.data_collator is None and train_dataloader is not None:
                    self.data_collator = data_loader(train_dataloader).collate_fn
        self.seconds_ += time.perf_counter() - started

    def _start_training_pass(self, model: Any, recorder: Recorder, train_dataloader: Any) -> None:
        loader = data_loader(train_dataloader)
        dataset = loader.dataset
        hooks = self._layer_recorder(model, recorder, require_ids=False)
        fetch = TaggedFetch(dataset, self.ids_key)
        dataset.__dict__["__getitems__"] = fetch
        self._patched = [fetch, (loader, loader.collate_fn)]
        loader.collate_fn = CollateWithIds(loader.collate_fn, self.ids_key)
        self._hooks = hooks.attach()
        # After the hooks: the ids go on before the forward, off after every hook has run.
        self._handles = [
            model.register_forward_pre_hook(self._take_ids, with_kwargs=True),
            model.register_forward_hook(self._forget_ids, always_call=True),
        ]
        self._rows = RealRows(shard_real_rows(train_dataloader, recorder.n_samples))

    def _take_ids(self, module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        ids = kwargs.pop(ID_KEY, None)
        if ids is None or self._hooks is None:
            return args, kwargs
        self._mask = kwargs.get("attention_mask")
        keep = self._rows.keep(self._epoch, ids)  # accelerate's repeats: left out
        step = None if self._state is None else self._state.global_step
        self._hooks.set_batch(ids, epoch=self._epoch, step=step, keep=keep)
        return args, kwargs

    def _forget_ids(self, module: Any, args: Any, output: Any) -> None:
        if self._hooks is not None:
            self._hooks.clear_batch()
        self._mask = None

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._state = state
        self._epoch = math.floor((state.epoch or 0.0) + 1e-6)
        self._ended = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not self.log_metrics or not logs or self.recorder_ is None or not self._open:
            return
        scalars = _scalars(logs)
        if self._ended is not None:
            # Logged after the epoch's end (the epoch's loss, its evaluation): they belong
            # to that epoch's snapshot.
            if scalars and self.recorder_.rank == 0:
                self.recorder_.end_snapshot(scalars, epoch=self._ended)
        else:
            self._logs.update(scalars)

    def on_epoch_end(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if self.recorder_ is None or not self._open:
            return
        started = time.perf_counter()
        epoch, step = self._epoch, state.global_step
        metrics = dict(self._logs) if self.log_metrics else None
        self._logs = {}
        if self.recorder_.should_record(epoch):
            if self._hooks is not None:
                self._hooks.end_snapshot(metrics, epoch=epoch, step=step)
            else:
                self.probe_passes_.append(self._probe_pass(args, model, epoch, step, metrics))
        # Logged from now until the next epoch begins belongs to this epoch (the recorder
        # drops what belongs to an epoch its schedule skips).
        self._ended = epoch
        self.seconds_ += time.perf_counter() - started

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ the probe pass
    def _probe_loader(self, args: Any, model: Any) -> Any:
        probe = self.probe
        if isinstance(probe, torch.utils.data.DataLoader):
            return probe
        if self.data_collator is None:
            collate = transformers.default_data_collator
        else:
            collate = self.data_collator
        tagged = TaggedDataset(probe, self.ids_key)
        return torch.utils.data.DataLoader(
            tagged,
            batch_size=self.batch_size or args.per_device_eval_batch_size,
            shuffle=False,
            collate_fn=CollateWithIds(
                getattr(collate, "data_collator", collate), self.ids_key, _forward_inputs(model)
            ),
        )

    def _probe_pass(self, args: Any, model: Any, epoch: int, step: int, metrics: Any) -> ProbePass:
        recorder = self.recorder_
        assert recorder is not None
        started = time.perf_counter()
        device = model_device(model, owner="ReprDynamicsCallback")
        training = {name: m.training for name, m in model.named_modules()}
        hooks = self._layer_recorder(model, recorder)
        position, batches = 0, 0
        takes = _forward_inputs(model)
        model.eval()
        try:
            with hooks, torch.no_grad():
                for batch in self._probe_loader(args, model):
                    if not isinstance(batch, Mapping):
                        raise RecordingError(
                            f"The probe loader yields {type(batch).__name__}s; the Transformers "
                            f"callback needs dict batches of the model's keyword inputs."
                        )
                    batch = dict(batch)
                    ids = batch.pop(ID_KEY, None)
                    if ids is None:
                        ids = batch.pop(self.ids_key, None)
                    size = len(next(iter(batch.values())))
                    if ids is None:  # a DataLoader in a fixed order: rows are ids
                        ids = torch.arange(position, position + size)
                    position += size
                    inputs = {
                        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                        for k, v in batch.items()
                        if k in takes
                    }
                    self._mask = inputs.get("attention_mask")
                    with hooks.batch(ids, epoch=epoch, step=step):
                        model(**inputs)
                    batches += 1
                hooks.end_snapshot(metrics, epoch=epoch, step=step)
        finally:
            self._mask = None
            for name, module in model.named_modules():
                module.train(training.get(name, module.training))
        return ProbePass(
            seconds=time.perf_counter() - started,
            n_batches=batches,
            n_samples=position,
            snapshot=recorder.n_snapshots - 1,
        )

    # ------------------------------------------------------------------ the end
    def close(self, *, failed: bool = False) -> None:
        """Stop recording: remove the hooks, restore the dataloader, close the run.

        ``failed=True`` drops the snapshot being assembled (after an exception).
        """
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._hooks is not None:
            self._hooks.remove(flush=not failed)
            self._hooks = None
        for patch in self._patched:
            if isinstance(patch, TaggedFetch):
                patch.restore()
            else:
                loader, collate = patch
                loader.collate_fn = collate
        self._patched = []
        self._close_recorder(failed=failed)
