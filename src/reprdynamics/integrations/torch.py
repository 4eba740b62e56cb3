"""Record named torch modules' outputs into a run, in the training pass or a probe pass.

Two ways to record (``docs/recording-modes.md`` compares them):

* **training pass** — :class:`LayerRecorder` hooks the modules you name and stores their
  outputs while *your* forward pass runs, for the ids of the current batch::

      with LayerRecorder(net, rec, layers={"penultimate": "fc1"}) as hooks:
          for epoch in range(E):
              for x, y, ids in loader:
                  with hooks.batch(ids, epoch=epoch):
                      out = net(x)
                  ...  # loss, backward, step
              hooks.end_snapshot(metrics={"loss": ...})

* **probe pass** — :func:`record_probe_pass` runs the model in eval mode, without grad,
  over a fixed probe set at each snapshot::

      for epoch in range(E):
          train_one_epoch(net)
          record_probe_pass(net, probe_loader, rec, layers={"penultimate": "fc1"}, epoch=epoch)

What a hook does costs the training step as little as possible: on a CUDA device it starts
an asynchronous copy into pinned host memory, so the step never waits for the transfer; on
the CPU it takes a clone (a later in-place op must not change what was recorded). Pending
outputs are handed to the recorder in groups of batches (up to ``GROUP_ROWS`` rows per
layer), when the epoch changes, and before the snapshot ends or the recorder closes, so
the recorder is called once per group rather than once per batch and layer.
"""

from __future__ import annotations

import collections
import difflib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from reprdynamics.errors import (
    InvalidParameterError,
    LayerNotFoundError,
    RecordingError,
    invalid_parameter,
    require,
)
from reprdynamics.recording.convert import register_device_stager, to_ids
from reprdynamics.recording.recorder import Recorder

torch = require("torch", "torch", "The torch integration (reprdynamics.integrations.torch)")

__all__ = [
    "DeviceStager",
    "LayerRecorder",
    "ProbePass",
    "distributed_options",
    "model_device",
    "real_rows",
    "record_probe_pass",
    "split_batch",
]

Pool = str | Callable[[Any], Any] | None
GROUP_ROWS = 4096  # pending rows per layer before outputs are handed to the recorder
_POOLS = ("avg", "max", "flatten", None)


# ---------------------------------------------------------------------------- parsing
def _parse_layers(
    model: Any, layers: Any, output_layer: str, record_output: bool, owner: str
) -> dict[str, str]:
    """``{run layer name: module name}``; module name ``""`` is the model itself (its output)."""
    if layers is None:
        mapping: dict[str, str] = {}
    elif isinstance(layers, str):
        mapping = {layers or output_layer: layers}
    elif isinstance(layers, Mapping):
        mapping = {}
        for key, value in layers.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise invalid_parameter(
                    "layers", owner, "a mapping of run layer names to module names (str)", layers
                )
            mapping[key or output_layer] = value
    elif isinstance(layers, Iterable):
        mapping = {}
        for name in layers:
            if not isinstance(name, str):
                raise invalid_parameter("layers", owner, "module names (str)", layers)
            mapping[name or output_layer] = name
    else:
        raise invalid_parameter(
            "layers",
            owner,
            "a module name, a list of them or a {run layer: module} mapping",
            layers,
        )
    if record_output and output_layer not in mapping and "" not in mapping.values():
        mapping[output_layer] = ""
    if not mapping:
        raise InvalidParameterError(
            f"{owner} has nothing to record: give layers=... or keep record_output=True."
        )
    for key in mapping:
        if "/" in key or key.startswith("."):
            raise invalid_parameter("layers", owner, "run layer names without '/'", key)
    available = dict(model.named_modules())
    missing = [m for m in mapping.values() if m not in available]
    if missing:
        names = [n for n in available if n]
        shown = ", ".join(repr(n) for n in names[:60])
        if len(names) > 60:
            shown += f", ... ({len(names) - 60} more)"
        close = difflib.get_close_matches(missing[0], names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise LayerNotFoundError(
            f"The model ({type(model).__name__}) has no module named "
            f"{', '.join(map(repr, missing))}.{hint} Available modules: {shown or 'none'}. "
            f"Use '' for the model's own output."
        )
    return mapping


def _parse_pool(pool: Any, layers: Mapping[str, str], owner: str) -> dict[str, Pool]:
    def one(value: Any) -> Pool:
        if value == "mean":
            value = "avg"
        if callable(value) or value in _POOLS:
            return value
        raise invalid_parameter("pool", owner, "'avg', 'max', 'flatten', None or a callable", value)

    if isinstance(pool, Mapping):
        unknown = set(pool) - set(layers)
        if unknown:
            raise invalid_parameter(
                "pool",
                owner,
                f"a mapping over the recorded layers {sorted(layers)}",
                sorted(unknown),
            )
        return {name: one(pool.get(name, "avg")) for name in layers}
    return {name: one(pool) for name in layers}


def _apply_pool(tensor: Any, how: Pool) -> Any:
    """Reduce a ``(B, C, *spatial)`` feature map to ``(B, C)``; 2-D outputs pass unchanged."""
    if callable(how):
        return how(tensor)
    if tensor.ndim <= 2 or how in (None, "flatten"):
        return tensor
    if not tensor.is_floating_point():
        tensor = tensor.float()
    dims = tuple(range(2, tensor.ndim))
    return tensor.mean(dim=dims) if how == "avg" else tensor.amax(dim=dims)


def split_batch(batch: Any, *, input_key: str = "X", ids_key: str = "index") -> tuple[Any, Any]:
    """``(inputs, ids)`` of a batch: a dict with ``input_key`` and ``ids_key`` (like the items
    of :class:`~reprdynamics.ReprDataset`) or an ``(x, y, ids)`` tuple.

    Raises
    ------
    RecordingError
        The batch carries no sample ids.
    """
    if isinstance(batch, Mapping):
        if ids_key not in batch:
            raise RecordingError(
                f"A batch without ids: the batch is a dict with keys {sorted(map(str, batch))} "
                f"but no {ids_key!r} key holding the sample ids. Yield ids (ReprDataset items "
                f"have 'index') or pass ids_key=..."
            )
        if input_key not in batch:
            raise RecordingError(
                f"The batch is a dict with keys {sorted(map(str, batch))} but no {input_key!r} "
                f"key holding the inputs; pass input_key=..."
            )
        return batch[input_key], batch[ids_key]
    if isinstance(batch, Sequence) and not isinstance(batch, str) and len(batch) == 3:
        return batch[0], batch[2]
    what = (
        f"a {type(batch).__name__} of length {len(batch)}"
        if hasattr(batch, "__len__")
        else (f"a {type(batch).__name__}")
    )
    raise RecordingError(
        f"A batch without ids: expected a dict with {ids_key!r} or an (x, y, ids) tuple, got "
        f"{what}. Wrap the dataset so every item carries its sample id, e.g. "
        f"TensorDataset(x, y, torch.arange(len(x))) or reprdynamics.ReprDataset."
    )


def model_device(model: Any, device: Any = None, *, owner: str = "record_probe_pass") -> Any:
    """The device inputs must go to: ``device`` if given, else the one device of the model.

    Raises
    ------
    RecordingError
        Mixed devices: the model's parameters are on several devices and no ``device`` was
        given, or they are all on one device and ``device`` names another.
    """
    devices = {p.device for p in model.parameters()} | {b.device for b in model.buffers()}
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if len(devices) == 1:
            (only,) = devices
            if only != device:
                raise RecordingError(
                    f"Mixed devices in {owner}: the model's parameters are on {only} but "
                    f"device={str(device)!r}. Move the model (model.to({str(device)!r})) or leave "
                    f"device=None to use the model's device."
                )
        return device
    if len(devices) > 1:
        raise RecordingError(
            f"Mixed devices in {owner}: the model's parameters are on "
            f"{sorted(map(str, devices))}; pass device=... to say where the inputs go."
        )
    return next(iter(devices)) if devices else torch.device("cpu")


def distributed_options() -> dict[str, Any]:
    """``rank``, ``world_size`` and ``barrier`` for :class:`Recorder` under torch.distributed.

    Empty when no process group is initialised (one process), so this is always safe::

        rec = Recorder(path, n_samples=N, **distributed_options())
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return {}
    return {"rank": dist.get_rank(), "world_size": dist.get_world_size(), "barrier": dist.barrier}


def real_rows(sampler: Any, n_samples: int) -> int | None:
    """How many of this rank's samples per epoch are real when ``sampler`` pads.

    A ``DistributedSampler`` without ``drop_last`` repeats samples at the end of its order
    so every rank gets as many; those repeats would record ids twice in a snapshot. Returns
    None when the sampler does not pad.
    """
    total, replicas, rank = (
        getattr(sampler, a, None) for a in ("total_size", "num_replicas", "rank")
    )
    if not all(isinstance(v, int) for v in (total, replicas, rank)) or total <= n_samples:
        return None
    return len(range(rank, n_samples, replicas))


class DeviceStager:
    """Copies tensors off an accelerator for :meth:`Recorder.store_batch` without a sync.

    ``store_batch`` of a CUDA tensor lands here: the copy into a pinned host buffer is
    queued on a side stream that first waits for the stream that computed the tensor (a
    GPU-side dependency: the host does not wait), and an event marks its end. The
    recorder takes the copies whose events have completed when it needs room, and all of
    them at the snapshot's end. Host buffers are reused. CPU tensors (``accepts_cpu``) are
    copied at once into the same kind of buffers, which runs the whole path on a machine
    without a GPU.
    """

    def __init__(self) -> None:
        self._pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self._free: dict[tuple[tuple[int, ...], Any, bool], list[Any]] = {}
        self._streams: dict[Any, Any] = {}
        self.pending_rows = 0

    def _host(self, shape: tuple[int, ...], dtype: Any, pinned: bool) -> Any:
        free = self._free.get((shape, dtype, pinned))
        if free:
            return free.pop()
        return torch.empty(shape, dtype=dtype, pin_memory=pinned)

    def _release(self, tensor: Any) -> None:
        key = (tuple(tensor.shape), tensor.dtype, tensor.is_pinned())
        self._free.setdefault(key, []).append(tensor)

    def stage(self, tensor: Any, ids: Any, layer: str, batch: int, step: int | None) -> None:
        values = tensor.detach()
        if values.dtype == torch.bfloat16:  # NumPy has no bfloat16 (cast on the device)
            values = values.float()
        if values.ndim == 1:
            values = values[:, None]
        elif values.ndim > 2:
            values = values.reshape(values.shape[0], -1)
        on_device = isinstance(ids, torch.Tensor) and ids.is_cuda
        host_ids = None
        if not on_device:
            host_ids = to_ids(ids).copy()  # the caller may reuse its id buffer
        event = None
        if values.is_cuda:
            host = self._host(tuple(values.shape), values.dtype, True)
            side = self._streams.get(values.device)
            if side is None:
                side = self._streams[values.device] = torch.cuda.Stream(values.device)
            side.wait_stream(torch.cuda.current_stream(values.device))
            with torch.cuda.stream(side):
                host.copy_(values, non_blocking=True)
                if on_device:
                    device_ids = ids.reshape(-1)
                    host_ids = self._host(tuple(device_ids.shape), device_ids.dtype, True)
                    host_ids.copy_(device_ids, non_blocking=True)
                    device_ids.record_stream(side)
            values.record_stream(side)  # the allocator must not reuse it before the copy
            event = torch.cuda.Event()
            event.record(side)
        else:
            host = self._host(tuple(values.shape), values.dtype, False)
            host.copy_(values)
            if on_device:  # values on the CPU, ids on a GPU: a blocking copy of the ids
                host_ids = to_ids(ids)
        self._pending.append((event, host, host_ids, layer, batch, step))
        self.pending_rows += int(values.shape[0])

    def ready(self, wait: bool) -> Iterator[tuple[np.ndarray, np.ndarray, str, int, int | None]]:
        while self._pending:
            event, host, host_ids, layer, batch, step = self._pending[0]
            if event is not None and not wait and not event.query():
                return
            self._pending.popleft()
            self.pending_rows -= int(host.shape[0])
            if event is not None:
                event.synchronize()  # this copy only, never the whole device
            ids = host_ids
            if isinstance(ids, torch.Tensor):
                ids = ids.numpy().astype(np.int64)
                self._release(host_ids)
            try:
                yield host.numpy(), ids, layer, batch, step
            finally:
                self._release(host)

    def discard(self) -> None:
        for event, *_ in self._pending:
            if event is not None:
                event.synchronize()
        self._pending.clear()
        self.pending_rows = 0


def _stages(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_cuda


register_device_stager(_stages, DeviceStager)


def _to_device(value: Any, device: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_device(v, device) for v in value)
    return value


# ---------------------------------------------------------------------------- hooks
class _Batch:
    """The ids of the batch whose forward pass is running, and what it has recorded."""

    # Made once per training step: slots keep creation and attribute access cheap.
    __slots__ = (
        "device",
        "epoch",
        "host_ids",
        "ids",
        "keep",
        "on_device",
        "seen",
        "size",
        "skip",
        "snapshot",
        "step",
    )

    def __init__(
        self,
        ids: Any,
        size: int,
        epoch: int | None,
        step: int | None,
        skip: bool,
        snapshot: int,
        device: Any = None,
        host_ids: Any = None,
    ) -> None:
        self.ids = ids  # host ids (array or CPU tensor); None while on an accelerator
        self.size = size
        self.epoch = epoch
        self.step = step
        self.skip = skip
        self.snapshot = snapshot  # the recorder's snapshot count when the batch started
        self.device = device  # torch.device of the ids when they are not on the CPU
        self.on_device = None  # the ids tensor when it is not on the CPU
        self.host_ids = host_ids  # pinned tensor receiving an async copy of CUDA ids
        self.keep: int | None = None  # record only the first rows (the rest is padding)
        self.seen: set[str] = set()

    def resolved_ids(self) -> np.ndarray:
        """Host ids; call only once the copy of ``host_ids`` is known to be complete."""
        if self.ids is None:
            if self.host_ids is not None:
                self.ids = self.host_ids.numpy().astype(np.int64, copy=True)
            else:  # ids on an accelerator without an async copy: a blocking one
                self.ids = to_ids(self.on_device)
            self.on_device = None
        elif not isinstance(self.ids, np.ndarray):  # a CPU id tensor
            self.ids = to_ids(self.ids)
        if self.keep is not None and self.ids.shape[0] > self.keep:
            self.ids = self.ids[: self.keep]
        return self.ids


class _BatchContext:
    """``with hooks.batch(ids):`` — a plain class, cheaper per step than a generator."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: LayerRecorder) -> None:
        self.hooks = hooks

    def __enter__(self) -> LayerRecorder:
        return self.hooks

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.hooks._batch = None


# One output of one layer for one batch, waiting to be handed to the recorder: the layer,
# a CPU tensor (a clone, or a pinned buffer receiving an async GPU copy), the batch, and the
# CUDA event marking the end of that copy (None for CPU clones).
_Pending = tuple[str, Any, _Batch, Any]


class LayerRecorder:
    """Record the outputs of named modules of a torch model through forward hooks.

    Parameters
    ----------
    model
        A ``torch.nn.Module``.
    recorder
        The :class:`~reprdynamics.Recorder` writing the run.
    layers
        What to record: a module name, a list of module names (each stored under its own
        name), or a mapping ``{run layer name: module name}`` such as
        ``{"penultimate": "features.3"}``. ``""`` names the model itself, i.e. its output.
        Module names are those of ``model.named_modules()``.
    record_output
        Also record the model's own output as the run's output layer (``"logits"`` unless
        the recorder says otherwise), unless ``layers`` already names that layer. Default
        True, so predictions are available.
    pool
        How feature maps with more than two dimensions, taken as ``(B, C, *spatial)``, are
        reduced before they leave the device: ``"avg"`` (default, global average pooling),
        ``"max"``, ``"flatten"`` / ``None`` (keep every value), or a callable on the
        detached tensor; or a mapping ``{run layer name: one of these}``.
    require_ids
        A forward pass while no batch ids are set raises :class:`RecordingError` (default).
        With False such passes are ignored (what the Lightning callback uses, so validation
        passes are not recorded).
    non_blocking
        On CUDA, copy outputs to pinned host memory asynchronously (default). False
        copies synchronously.
    unwrap
        ``unwrap(module_name, output)`` turns what a module returns into the tensor to
        record, for modules that return a tuple or a model-output object (the Transformers
        callback takes ``.logits`` of the model's output this way). Default: outputs must
        be tensors.

    Notes
    -----
    Use it as a context manager (hooks are attached on entry and removed on exit) or call
    :meth:`attach` and :meth:`remove`. Tell it the ids of each batch with
    ``with hooks.batch(ids, epoch=e): out = model(x)`` or ``hooks.set_batch(ids, epoch=e)``.
    End snapshots with :meth:`end_snapshot`, which also checks that every layer was
    recorded; ``recorder.end_snapshot`` and ``recorder.close`` work too, as while the hooks
    are attached they hand pending outputs over first. A module whose hook fires twice for
    the same batch ids (a module called twice in one forward pass, or two forward passes
    under one ``set_batch``) is an error, as silently overwriting would record the wrong
    output.

    Examples
    --------
    >>> import tempfile, torch, reprdynamics as rd
    >>> from reprdynamics.integrations.torch import LayerRecorder
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> rec = rd.Recorder(tempfile.mkdtemp() + "/run", n_samples=6)
    >>> with LayerRecorder(net, rec, layers={"hidden": "1"}) as hooks:
    ...     for epoch in range(2):
    ...         with hooks.batch(torch.arange(6), epoch=epoch):
    ...             out = net(torch.randn(6, 4))
    ...         _ = hooks.end_snapshot()
    >>> rec.close(); rec.run.layers
    ['logits', 'hidden']
    """

    def __init__(
        self,
        model: Any,
        recorder: Recorder,
        layers: str | Sequence[str] | Mapping[str, str] | None = None,
        *,
        record_output: bool = True,
        pool: Pool | Mapping[str, Pool] = "avg",
        require_ids: bool = True,
        non_blocking: bool = True,
        unwrap: Callable[[str, Any], Any] | None = None,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise invalid_parameter("model", "LayerRecorder", "a torch.nn.Module", type(model))
        if not isinstance(recorder, Recorder):
            raise invalid_parameter(
                "recorder", "LayerRecorder", "a reprdynamics.Recorder", type(recorder)
            )
        self.model = model
        self.recorder = recorder
        self.layers = _parse_layers(
            model, layers, recorder.run.output_layer, record_output, "LayerRecorder"
        )
        self.pool = _parse_pool(pool, self.layers, "LayerRecorder")
        self.require_ids = require_ids
        self.non_blocking = non_blocking
        self.unwrap = unwrap
        self.counts: dict[str, int] = dict.fromkeys(self.layers, 0)  # batches this snapshot
        self._handles: list[Any] = []
        self._batch: _Batch | None = None
        self._paused = 0
        self._pending: list[_Pending] = []
        self._pending_rows = 0  # rows pending over all layers
        self._pinned: dict[tuple[tuple[int, ...], Any], list[Any]] = {}
        self._streams: dict[Any, Any] = {}  # a side stream per CUDA device, for the copies

    # ------------------------------------------------------------------ lifecycle
    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> LayerRecorder:
        """Register the forward hooks (idempotent)."""
        if not self._handles:
            modules = dict(self.model.named_modules())
            for layer, module_name in self.layers.items():
                hook = partial(self._on_forward, layer, module_name)
                self._handles.append(modules[module_name].register_forward_hook(hook))
            self._guard_recorder()
        return self

    def remove(self, *, flush: bool = True) -> None:
        """Remove every hook; store pending outputs unless ``flush=False`` (dropped then)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._batch = None
        try:
            if flush:
                self.flush()
            else:
                self._pending, self._pending_rows = [], 0
        finally:
            self._unguard_recorder()

    # Outputs wait here until they are handed over in groups, so the recorder must not end
    # a snapshot (or close) without them: while attached, the hooks are a batch source of
    # the recorder, which flushes them first, also when called on the recorder directly.
    def _guard_recorder(self) -> None:
        self.recorder.add_batch_source(self.flush)

    def _unguard_recorder(self) -> None:
        self.recorder.remove_batch_source(self.flush)

    def __enter__(self) -> LayerRecorder:
        return self.attach()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.remove(flush=exc_type is None)

    # ------------------------------------------------------------------ batches
    def set_batch(
        self,
        ids: Any,
        *,
        epoch: int | None = None,
        step: int | None = None,
        keep: int | None = None,
    ) -> None:
        """Declare the sample ids of the next forward pass (and its epoch and step).

        ``keep``: record only the first ``keep`` samples of the batch, e.g. to leave out the
        samples a ``DistributedSampler`` repeats at the end of an epoch to even out ranks.

        Outputs of earlier batches are handed to the recorder first when the epoch changes
        or enough rows are pending. Ids should stay on the CPU; ids on the outputs' CUDA
        device are copied asynchronously too. A CPU id tensor is read when its outputs are
        handed over (that is when the recorder checks it): do not change it in place before
        (DataLoaders never do). Lists and arrays are copied and checked at once.
        """
        if self._pending and self._pending[-1][2].epoch != epoch:
            self.flush()
        elif self._pending_rows >= GROUP_ROWS * len(self.layers):
            self.flush(wait=False)  # what has landed; GPU copies in flight stay pending
        if ids is None:
            raise RecordingError(
                "A batch without ids: set_batch got ids=None. Pass the sample ids of the batch "
                "(e.g. batch['index'] of a ReprDataset, or the ids of an (x, y, ids) tuple)."
            )
        skip = epoch is not None and not self.recorder.should_record(epoch)
        snapshot = self.recorder.n_snapshots
        if isinstance(ids, torch.Tensor):
            if ids.ndim != 1:
                ids = ids.reshape(-1)
            if ids.is_cpu:
                # The usual case, a CPU id tensor from a DataLoader: kept as it is and read
                # (and checked by the recorder) when the outputs are handed over, so the
                # step pays for no conversion.
                self._batch = _Batch(ids, int(ids.shape[0]), epoch, step, skip, snapshot)
                self._batch.keep = keep
                return
            host_ids = None
            if ids.is_cuda and self.non_blocking and not skip:
                host_ids = self._pinned_buffer(tuple(ids.shape), ids.dtype)
                side = self._side_stream(ids.device)
                side.wait_stream(torch.cuda.current_stream(ids.device))
                with torch.cuda.stream(side):
                    host_ids.copy_(ids, non_blocking=True)
                ids.record_stream(side)
            batch = _Batch(
                None, int(ids.shape[0]), epoch, step, skip, snapshot, ids.device, host_ids
            )
            batch.on_device = ids
            batch.keep = keep
            self._batch = batch
            return
        parsed = to_ids(ids)
        size = int(parsed.shape[0])
        n = self.recorder.n_samples
        if size and parsed.dtype.kind in "iu" and (parsed.min() < 0 or parsed.max() >= n):
            bad = parsed[(parsed < 0) | (parsed >= n)]
            raise RecordingError(
                f"{bad.size} batch id(s) are outside [0, {n}) (the run's samples): "
                f"e.g. {bad[:5].tolist()}."
            )
        # A copy: the ids are kept until stored, and the caller may reuse its buffer.
        self._batch = _Batch(parsed.copy(), size, epoch, step, skip, snapshot)
        self._batch.keep = keep

    def clear_batch(self) -> None:
        """Forget the current ids: a forward pass now raises (or is ignored, see require_ids)."""
        self._batch = None

    def batch(
        self,
        ids: Any,
        *,
        epoch: int | None = None,
        step: int | None = None,
        keep: int | None = None,
    ) -> _BatchContext:
        """``with hooks.batch(ids, epoch=e): out = model(x)`` records that forward pass.

        The ids are set at once (see :meth:`set_batch`) and cleared when the block ends.
        """
        self.set_batch(ids, epoch=epoch, step=step, keep=keep)
        return _BatchContext(self)

    @contextmanager
    def paused(self) -> Iterator[LayerRecorder]:
        """Forward passes inside this block are not recorded (e.g. a validation pass)."""
        self._paused += 1
        try:
            yield self
        finally:
            self._paused -= 1

    # ------------------------------------------------------------------ the hook
    def _on_forward(
        self, layer: str, module_name: str, module: Any, args: Any, output: Any
    ) -> None:
        if self._paused:
            return
        batch = self._batch
        if batch is None:
            if not self.require_ids:
                return
            raise RecordingError(
                f"A batch without ids: module {module_name or '<model>'!r} (layer {layer!r}) "
                f"ran a forward pass, but no sample ids were set. Wrap the forward pass in "
                f"`with hooks.batch(ids, epoch=epoch):`, call hooks.set_batch(ids) before it, "
                f"or use `with hooks.paused():` for passes that should not be recorded."
            )
        if batch.skip:
            return
        if layer in batch.seen:
            raise RecordingError(
                f"Layer {layer!r} (module {module_name or '<model>'!r}) produced a second output "
                f"for the same batch ids. Either the module runs twice in one forward pass "
                f"(record another module) or several forward passes ran under one set_batch "
                f"(call set_batch, or use `with hooks.batch(...)`, before each)."
            )
        if self.unwrap is not None:
            output = self.unwrap(module_name, output)
        if not isinstance(output, torch.Tensor):
            raise RecordingError(
                f"Module {module_name or '<model>'!r} (layer {layer!r}) returned a "
                f"{type(output).__name__}, not a tensor; record a submodule that returns a "
                f"tensor instead."
            )
        tensor = _apply_pool(output.detach(), self.pool[layer])
        if tensor.ndim == 0 or tensor.shape[0] != batch.size:
            raise RecordingError(
                f"Layer {layer!r} (module {module_name or '<model>'!r}) returned shape "
                f"{tuple(output.shape)} for a batch of {batch.size} ids; the first dimension "
                f"must be the batch."
            )
        if batch.device is not None and batch.device != tensor.device:
            raise RecordingError(
                f"Mixed devices: the batch ids are on {batch.device} but layer {layer!r} "
                f"(module {module_name or '<model>'!r}) produced its output on "
                f"{tensor.device}. Keep the ids on the CPU (or on the outputs' device)."
            )
        if batch.keep is not None and batch.keep < batch.size:
            tensor = tensor[: batch.keep]
        batch.seen.add(layer)
        self.counts[layer] += 1
        event = None
        if tensor.is_cpu:
            # A clone: a later in-place op (ReLU(inplace=True), x += ...) must not change
            # what was recorded. Handing the recorder many batches at once costs far less
            # per step than one call per batch and layer.
            values = tensor.clone()
        elif tensor.is_cuda and self.non_blocking:
            # On a side stream that waits for the compute stream on the GPU: the copy
            # overlaps the next kernels, and the host never waits here.
            values = self._pinned_buffer(tuple(tensor.shape), tensor.dtype)
            side = self._side_stream(tensor.device)
            side.wait_stream(torch.cuda.current_stream(tensor.device))
            with torch.cuda.stream(side):
                values.copy_(tensor, non_blocking=True)
            tensor.record_stream(side)
            event = torch.cuda.Event()
            event.record(side)
        else:  # another accelerator, or non_blocking=False: a blocking copy
            values = tensor.cpu()
        self._pending.append((layer, values, batch, event))
        self._pending_rows += batch.size

    # ------------------------------------------------------------------ copies in flight
    def _side_stream(self, device: Any) -> Any:
        stream = self._streams.get(device)
        if stream is None:
            stream = self._streams[device] = torch.cuda.Stream(device)
        return stream

    def _pinned_buffer(self, shape: tuple[int, ...], dtype: Any) -> Any:
        free = self._pinned.get((shape, dtype))
        if free:
            return free.pop()
        return torch.empty(shape, dtype=dtype, pin_memory=True)

    def _release(self, tensor: Any) -> None:
        self._pinned.setdefault((tuple(tensor.shape), tensor.dtype), []).append(tensor)

    def flush(self, *, wait: bool = True) -> int:
        """Hand pending outputs to the recorder.

        With ``wait`` (the default; at the snapshot's end and when detaching) every one,
        waiting for GPU copies in flight; without it only those whose copies have landed,
        in order, so a step never waits for the device. Outputs are grouped per epoch and
        layer, in the order they were produced, so each group is one
        :meth:`Recorder.store_batch` call. Returns the number of batch outputs stored.
        """
        if not wait:
            done = 0
            for _, _, _, event in self._pending:
                # The ids' copy was queued before the values' on the same side stream.
                if event is not None and not event.query():
                    break
                done += 1
            if done == 0:
                return 0
            pending, self._pending = self._pending[:done], self._pending[done:]
            self._pending_rows = sum(item[2].size for item in self._pending)
        else:
            pending, self._pending, self._pending_rows = self._pending, [], 0
        if not pending:
            return 0
        for _, _, _, event in pending:
            if event is not None:
                event.synchronize()
        stale = [item for item in pending if item[2].snapshot != self.recorder.n_snapshots]
        if stale:
            raise RecordingError(
                f"A snapshot was ended while {len(stale)} recorded outputs (layer "
                f"{stale[0][0]!r}) were still pending (were the hooks detached and "
                f"re-attached in between?). End snapshots with hooks.end_snapshot(...), or "
                f"call hooks.flush() before recorder.end_snapshot(...)."
            )
        groups: dict[tuple[int | None, str], list[_Pending]] = {}
        for item in pending:  # dicts keep insertion order: epochs stay in sequence
            groups.setdefault((item[2].epoch, item[0]), []).append(item)
        for (epoch, layer), items in groups.items():
            values = items[0][1] if len(items) == 1 else torch.cat([i[1] for i in items])
            ids = [i[2].resolved_ids() for i in items]
            self.recorder.store_batch(
                values,
                ids[0] if len(ids) == 1 else np.concatenate(ids),
                epoch,
                layer,
                step=items[-1][2].step,
            )
        for _, values, batch, event in pending:
            if event is not None:
                self._release(values)
            if batch.host_ids is not None:
                self._release(batch.host_ids)
                batch.host_ids = None
        return len(pending)

    # ------------------------------------------------------------------ snapshots
    def end_snapshot(self, metrics: Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
        """Flush copies in flight, check every layer was recorded, and end the snapshot.

        Returns what :meth:`Recorder.end_snapshot` returns (False when nothing was recorded,
        e.g. in an epoch the schedule skips).

        Raises
        ------
        RecordingError
            Some layers recorded batches in this snapshot and others none (a hooked module
            that the forward pass never called).
        """
        self.flush()
        counts, self.counts = self.counts, dict.fromkeys(self.layers, 0)
        if any(counts.values()):
            silent = [name for name, n in counts.items() if n == 0]
            if silent:
                detail = ", ".join(
                    f"{n!r} (module {self.layers[n] or '<model>'!r})" for n in silent
                )
                raise RecordingError(
                    f"Layer(s) {detail} recorded no batch in this snapshot while others did: "
                    f"the forward pass never called those modules. If the training step calls "
                    f"a submodule directly (e.g. self.net(x) rather than self(x)), name that "
                    f"submodule instead of ''."
                )
        return self.recorder.end_snapshot(metrics, **kwargs)

    def __repr__(self) -> str:
        layers = ", ".join(f"{k}={v or '<model>'}" for k, v in self.layers.items())
        state = "attached" if self.attached else "detached"
        return f"<LayerRecorder {state}: {layers}>"


# ---------------------------------------------------------------------------- probe pass
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
                x = _to_device(x, target)
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
