"""Damage: chunks lost from the store or that cannot be decoded.

Every chunk of a written row is stored, so a chunk missing from a committed complete row
is damage, never a default: reads refuse it (a :class:`~reprdynamics.errors.CorruptRunError`
naming array, snapshot and the fix) rather than serve fill values, and
:meth:`~reprdynamics.storage.run.Run.verify` lists every damaged part."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync as _zarr_sync

from reprdynamics.errors import CorruptRunError, ReprDynamicsError
from reprdynamics.storage.remote import storage_error

__all__ = ["Damage"]
from reprdynamics.storage.location import _is_url, _store_errors


@dataclass(frozen=True)
class Damage:
    """One damaged part of a run found by :meth:`Run.verify`."""

    snapshot: int | None  # None: an array that does not belong to one snapshot
    array: str  # its path in the run, e.g. "representations/logits"
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "array": self.array, "problem": self.problem}


class _DamageChecks:
    """Finding missing and undecodable chunks of a run's arrays."""

    @contextmanager
    def _decoding(self, path: str, t: int | None) -> Iterator[None]:
        """Chunks that cannot be decoded as :class:`CorruptRunError` naming array and row."""
        try:
            yield
        except ReprDynamicsError:
            raise
        except Exception as exc:
            if _is_url(self.location):
                error = storage_error(exc, self.location, self._storage_options)
                if error is not None:
                    raise error from exc
            elif isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
                raise
            what = f"Snapshot {t} of the array" if t is not None else "The array"
            raise CorruptRunError(
                f"{what} {path!r} of the run at {self.location!r} cannot be read: a chunk is "
                f"damaged ({type(exc).__name__}: {exc}). `reprdynamics info --verify RUN` "
                "lists every damaged snapshot."
            ) from exc

    def _chunk_keys(self, arr: zarr.Array, t: int | None) -> list[str]:
        """The store keys (relative to the array) of every chunk of row ``t``, or of all."""
        grid = [math.ceil(s / c) for s, c in zip(arr.shape, arr.chunks, strict=True)]
        ranges: list[Sequence[int]] = [range(g) for g in grid]
        if t is not None:
            ranges[0] = [t // arr.chunks[0]]
        return [arr.metadata.encode_chunk_key(c) for c in itertools.product(*ranges)]

    def _present(self, path: str, prefix: str) -> set[str]:
        """Keys (relative to the array ``path``) stored under ``prefix``: one listing."""
        base = self._key(path) + "/"

        async def listing() -> set[str]:
            return {k[len(base) :] async for k in self._group.store.list_prefix(base + prefix)}

        with _store_errors(self.location, self._storage_options):
            return _zarr_sync(listing())

    def _missing_chunks(self, path: str, t: int | None = None) -> list[str]:
        """Chunk keys of row ``t`` (or of the whole array) that the store lacks."""
        arr = self._array(path)
        keys = self._chunk_keys(arr, t)
        if not keys:
            return []
        common: list[str] = []  # the folders every key lies in, e.g. c/<t>/
        for segments in zip(*(k.split("/")[:-1] for k in keys), strict=False):
            if len(set(segments)) > 1:
                break
            common.append(segments[0])
        present = self._present(path, "".join(f"{c}/" for c in common))
        return [k for k in keys if k not in present]

    def _require_chunks(self, path: str, t: int | None) -> None:
        """Refuse to serve fill values for chunks a committed row (or array) must hold."""
        if (path, t) in self._verified:
            return
        missing = self._missing_chunks(path, t)
        if missing:
            what = f"Snapshot {t} of the array" if t is not None else "The array"
            raise CorruptRunError(
                f"{what} {path!r} of the run at {self.location!r} is damaged: "
                f"{len(missing)} chunk(s) are missing (e.g. {self._key(path, missing[0])}); "
                "they would read as fill values. `reprdynamics info RUN` lists every damaged "
                "snapshot."
            )
        self._verified.add((path, t))

    def _row_must_be_whole(self, path: str, t: int) -> bool:
        """Whether every chunk of row ``t`` of ``path`` was written (a complete snapshot)."""
        if not self._entries[t].get("complete"):
            return False  # chunks of samples not recorded may be absent in older runs
        if path == "predictions":
            return self.kind in ("logits", "probabilities")  # else all -1: absent in older runs
        return True

    def verify(self, *, decode: bool = False) -> list[Damage]:
        """What is damaged in the run's arrays; an empty list when nothing is.

        Without ``decode``, one listing per array: the chunks each committed complete
        snapshot must hold (every one of its rows was written) and those of the labels and
        inputs, missing from the store. With ``decode``, every stored chunk is also read and
        decoded, which takes as long as reading the whole run. Snapshots not named here
        read as recorded; a read of a damaged one raises :class:`CorruptRunError`.
        """
        found: list[Damage] = []
        rows = [f"representations/{layer}" for layer in self.layers] + ["predictions"]
        for path in rows:
            try:
                arr = self._array(path)
            except CorruptRunError as exc:
                found.append(Damage(None, path, str(exc)))
                continue
            present = self._present(path, "")
            for t in range(self.n_snapshots):
                keys = self._chunk_keys(arr, t)
                missing = [k for k in keys if k not in present]
                if missing and self._row_must_be_whole(path, t):
                    found.append(Damage(t, path, f"{len(missing)} of {len(keys)} chunks missing"))
                elif decode:
                    try:
                        with self._decoding(path, t):
                            np.asarray(arr[t])
                    except CorruptRunError as exc:
                        found.append(Damage(t, path, str(exc.__cause__ or exc)))
        whole = [p for p in ("labels", "inputs") if self._has(p)]
        for path in whole + [f"extras/{name}" for name in self.extras]:
            try:
                arr = self._array(path)
                missing = self._missing_chunks(path) if path in whole else []
                if missing:
                    found.append(Damage(None, path, f"{len(missing)} chunks missing"))
                elif decode:
                    with self._decoding(path, None):
                        np.asarray(arr[...])
            except CorruptRunError as exc:
                found.append(Damage(None, path, str(exc.__cause__ or exc)))
        return found
