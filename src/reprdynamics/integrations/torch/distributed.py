"""torch.distributed for the recorder: this process's rank, and the rows a sampler pads."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["distributed_options", "real_rows"]


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
