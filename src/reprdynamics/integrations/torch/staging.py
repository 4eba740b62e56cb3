"""``DeviceStager``: copies of accelerator tensors for the recorder, without a device sync.

Importing this module registers it with
:func:`reprdynamics.recording.convert.register_device_stager`, so ``Recorder.store_batch``
of a CUDA tensor goes through it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from reprdynamics.recording.convert import register_device_stager, to_ids

__all__ = ["DeviceStager"]


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
