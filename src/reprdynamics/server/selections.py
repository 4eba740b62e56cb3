"""Selections posted once as bitmasks and named by a content token afterwards.

A selection of a million samples does not fit a URL as ids, and a POST body cannot be
cached by the browser. The dashboard therefore posts a large selection once, as a bitmask
(``POST /api/runs/{run}/selection``, ``application/octet-stream``: bit ``i`` is bit
``i % 8`` of byte ``i // 8``, least significant first, ``ceil(N / 8)`` bytes, padding bits
zero), and names it by the token it gets back (``samples=sel:<token>``) in every GET. The
token is a hash of the bitmask, so the same selection always has the same token, and
cached answers (ETags) stay valid across page loads. Tokens are kept in a bounded LRU; an
unknown token answers 404 naming the parameter, and the client posts the bitmask again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from reprdynamics.server.arrays import ApiError

__all__ = ["SELECTION_PREFIX", "SelectionRegistry", "decode_bitmask", "encode_bitmask"]

#: Selection parameters starting with this name a registered selection.
SELECTION_PREFIX = "sel:"


def encode_bitmask(ids: np.ndarray, n_samples: int) -> bytes:
    """The bitmask of sorted or unsorted ids in ``[0, n_samples)`` (for clients and tests)."""
    bits = np.zeros(n_samples, dtype=np.uint8)
    bits[np.asarray(ids, dtype=np.int64)] = 1
    return np.packbits(bits, bitorder="little").tobytes()


def decode_bitmask(payload: bytes, n_samples: int, name: str = "body") -> np.ndarray:
    """Sorted ids whose bit is set; a clear 400 naming ``name`` when the mask is malformed."""
    expected = (n_samples + 7) // 8
    if len(payload) != expected:
        raise ApiError(
            400,
            f"A selection bitmask of this run has {expected} bytes (ceil({n_samples} / 8)), "
            f"not {len(payload)}.",
            parameter=name,
        )
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), bitorder="little")
    if bits[n_samples:].any():
        raise ApiError(
            400,
            f"The selection bitmask sets bits beyond the run's {n_samples} samples (the "
            "padding bits of the last byte must be 0).",
            parameter=name,
        )
    ids = np.flatnonzero(bits[:n_samples]).astype(np.int64)
    if ids.size == 0:
        raise ApiError(400, "The selection bitmask selects no sample.", parameter=name)
    return ids


class SelectionRegistry:
    """Registered bitmasks by token, at most ``max_bytes`` of them (least recent dropped)."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
        self._masks: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def register(self, payload: bytes, n_samples: int) -> tuple[str, int]:
        """Validate ``payload`` as a bitmask of ``n_samples``; return (token, selected)."""
        ids = decode_bitmask(payload, n_samples)
        digest = hashlib.sha256(n_samples.to_bytes(8, "little") + payload).hexdigest()[:32]
        token = f"{SELECTION_PREFIX}{digest}"
        with self._lock:
            if token in self._masks:
                self._masks.move_to_end(token)
            else:
                self._masks[token] = (n_samples, bytes(payload))
                self._bytes += len(payload)
                while self._bytes > self.max_bytes and len(self._masks) > 1:
                    _, (_, dropped) = self._masks.popitem(last=False)
                    self._bytes -= len(dropped)
        return token, int(ids.size)

    def resolve(self, token: str, n_samples: int, name: str) -> np.ndarray:
        """The sorted ids of a registered selection of a run with ``n_samples`` samples."""
        with self._lock:
            found = self._masks.get(token)
            if found is not None:
                self._masks.move_to_end(token)
        if found is None:
            raise ApiError(
                404,
                f"The selection {token[:40]!r} is not registered here (the server may have "
                "restarted, or dropped it); POST its bitmask to /api/runs/{run}/selection "
                "again.",
                parameter=name,
            )
        n, payload = found
        if n != n_samples:
            raise ApiError(
                400,
                f"The selection {token[:40]!r} was registered for a run of {n} samples; "
                f"this run has {n_samples}.",
                parameter=name,
            )
        return decode_bitmask(payload, n_samples, name)
