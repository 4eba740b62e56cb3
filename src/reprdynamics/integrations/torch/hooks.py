"""``LayerRecorder``: forward hooks that record named modules' outputs in the training pass.

What a hook does costs the training step as little as possible: on a CUDA device it starts
an asynchronous copy into pinned host memory, so the step never waits for the transfer; on
the CPU it takes a clone (a later in-place op must not change what was recorded). Pending
outputs are handed to the recorder in groups of batches (up to
``reprdynamics.integrations.torch.GROUP_ROWS`` rows per layer), when the epoch changes,
and before the snapshot ends or the recorder closes, so the recorder is called once per
group rather than once per batch and layer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import torch

from reprdynamics.errors import RecordingError, invalid_parameter
from reprdynamics.integrations.torch.parsing import Pool, apply_pool, parse_layers, parse_pool
from reprdynamics.recording.convert import to_ids
from reprdynamics.recording.recorder import Recorder

__all__ = ["LayerRecorder"]

# GROUP_ROWS is the package's public setting: read from there at each use, so setting
# reprdynamics.integrations.torch.GROUP_ROWS takes effect.
_package = sys.modules[__package__]


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
        self.layers = parse_layers(
            model, layers, recorder.run.output_layer, record_output, "LayerRecorder"
        )
        self.pool = parse_pool(pool, self.layers, "LayerRecorder")
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
        elif self._pending_rows >= _package.GROUP_ROWS * len(self.layers):
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
        tensor = apply_pool(output.detach(), self.pool[layer])
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
