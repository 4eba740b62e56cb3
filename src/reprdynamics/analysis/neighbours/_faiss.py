"""What the faiss backends share: availability, devices, BLAS block sizes and threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reprdynamics.errors import InvalidParameterError, invalid_parameter

_FAISS_SETTINGS = threading.Lock()
_FAISS_ACTIVE = [0]  # searches running with our block sizes
_FAISS_SAVED: list[int] = []  # the settings they replaced
#: From this many queries on, faiss's flat search uses BLAS (faiss's historical default).
_FAISS_BLAS_THRESHOLD = 20


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _single_threaded_blas():
    """faiss parallelises with OpenMP and calls BLAS inside each thread: a BLAS that also
    runs threads oversubscribes the cores (measured 2-4x slower on 2 cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


@contextmanager
def _faiss_blocks(query_block: int, database_block: int) -> Iterator[None]:
    """Set faiss's BLAS settings (process-wide) while searches run, then restore them.

    Reference-counted, so concurrent searches in threads restore the user's settings only
    when the last one ends.
    """
    import faiss

    cvar = faiss.cvar
    with _FAISS_SETTINGS:
        if _FAISS_ACTIVE[0] == 0:
            _FAISS_SAVED[:] = [
                cvar.distance_compute_blas_query_bs,
                cvar.distance_compute_blas_database_bs,
                cvar.distance_compute_blas_threshold,
            ]
            cvar.distance_compute_blas_query_bs = int(query_block)
            cvar.distance_compute_blas_database_bs = int(database_block)
            # Recent faiss wheels answer up to 128,000 queries with a one-query-at-a-time
            # SIMD loop; the BLAS path was 2.3x faster at 4,000 x 4,000 x 10 and 2.8x at
            # 4,000 queries x 50,000 rows (single thread), and never slower.
            cvar.distance_compute_blas_threshold = _FAISS_BLAS_THRESHOLD
        _FAISS_ACTIVE[0] += 1
    try:
        yield
    finally:
        with _FAISS_SETTINGS:
            _FAISS_ACTIVE[0] -= 1
            if _FAISS_ACTIVE[0] == 0:
                cvar.distance_compute_blas_query_bs = _FAISS_SAVED[0]
                cvar.distance_compute_blas_database_bs = _FAISS_SAVED[1]
                cvar.distance_compute_blas_threshold = _FAISS_SAVED[2]


def _faiss_device(index: Any, device: str, owner: str) -> tuple[Any, str]:
    """Move a faiss index to the GPU when asked for (or, for "auto", when one is present).

    Needs a GPU build of faiss (``faiss-gpu``) and a CUDA device; ``"auto"`` falls back to
    the CPU without either, ``"cuda"`` raises.
    """
    import faiss

    if device not in ("auto", "cpu", "cuda"):
        raise invalid_parameter("device", owner, "'auto', 'cpu' or 'cuda'", device)
    if device == "cpu":
        return index, "cpu"
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus < 1 or not hasattr(faiss, "StandardGpuResources"):
        if device == "cuda":
            raise InvalidParameterError(
                f"{owner}(device='cuda') needs a GPU build of faiss and a CUDA device; this "
                f"faiss sees {gpus} GPUs. Install faiss-gpu, or use device='auto' or 'cpu'."
            )
        return index, "cpu"
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, 0, index)
    gpu_index.reprdynamics_resources = resources  # keep the resources alive with the index
    return gpu_index, "cuda"
