"""The snapshot buffer: one snapshot being assembled in memory, batch by batch, and the
checks deferred to its end (ids outside ``[0, N)``, NaN or inf), which name the batch."""

from __future__ import annotations

import numpy as np

from reprdynamics.errors import RecordingError


class _Buffer:
    """One snapshot being assembled: a dense (N, D) array per layer, and per layer which
    batch last wrote each row (-1: none), so checks deferred to the snapshot's end can
    still name the batch."""

    __slots__ = ("epoch", "index", "layers", "n_batches", "n_samples", "rank", "writers")

    def __init__(self, n_samples: int, epoch: int | None, index: int, rank: str = "") -> None:
        self.n_samples = n_samples
        self.rank = rank  # " (rank r)" when several processes record, else ""
        self.epoch = epoch
        self.index = index
        self.layers: dict[str, np.ndarray] = {}
        self.writers: dict[str, np.ndarray] = {}
        self.n_batches = 0

    def layer(self, name: str, dim: int, dtype: np.dtype) -> np.ndarray:
        buf = self.layers.get(name)
        if buf is None:
            buf = np.full((self.n_samples, dim), np.nan, dtype=dtype)
            self.layers[name] = buf
            # 2N entries: a negative id -k (which NumPy wraps around) marks entry 2N - k,
            # beyond the N real ones, where the snapshot's end finds it (no check per batch).
            self.writers[name] = np.full(2 * self.n_samples, -1, dtype=np.int32)
        return buf

    def recorded(self) -> np.ndarray:
        """``(N,)`` bool: samples recorded in every layer."""
        n = self.n_samples
        return np.logical_and.reduce([w[:n] >= 0 for w in self.writers.values()])

    def check_ids(self) -> None:
        """Refuse a snapshot that a batch with negative ids wrote into, naming the batch."""
        n = self.n_samples
        for writers in self.writers.values():
            guard = writers[n:]
            if guard.max() < 0:
                continue
            batch = int(guard[guard >= 0].min())
            ids = np.flatnonzero(guard == batch) - n
            raise RecordingError(
                f"{ids.size} id(s) at {self.where(batch)} are outside [0, {n}): e.g. "
                f"{ids[:5].tolist()}. Negative ids would overwrite other samples' rows, so "
                f"snapshot {self.index} is not written; earlier snapshots are safe."
            )

    def where(self, batch: int) -> str:
        epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
        return f"batch {batch} of snapshot {self.index}{epoch}{self.rank}"

    def check_finite(self, dtype: np.dtype) -> None:
        """Refuse NaN or inf in recorded rows, naming the first batch that wrote one.

        One vectorised pass per layer and snapshot instead of one per batch. Values beyond
        the float16 range became inf when copied into a float16 buffer, so this catches
        them too.
        """
        for name, values in self.layers.items():
            writers = self.writers[name][: self.n_samples]
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: fine
                total = values.sum(dtype=np.float64)
            if writers.min() >= 0 and np.isfinite(total):
                continue  # every row recorded and the sum finite: no NaN or inf anywhere
            bad = (writers >= 0) & ~np.isfinite(values).all(axis=1)
            if not bad.any():
                continue
            rows = np.flatnonzero(bad)
            batch = int(writers[rows].min())
            first = rows[writers[rows] == batch]
            sample = int(first[0])
            column = int(np.flatnonzero(~np.isfinite(values[sample]))[0])
            value = float(values[sample, column])
            limit = f"|x| > {np.finfo(dtype).max:g}"
            beyond = (
                f" (or values beyond the float16 range, {limit}: record with dtype='float32')"
                if dtype == np.float16
                else ""
            )
            # The buffer holds the values after the cast to the storage dtype: an input
            # value beyond its range is an inf here, whatever it was before.
            cause = (
                f" (a value beyond the {dtype} range, {limit}, is stored as inf)"
                if np.isinf(value) and dtype != np.float16
                else ""
            )
            raise RecordingError(
                f"The representation of layer {name!r} at {self.where(batch)} holds NaN or "
                f"inf{beyond} in {first.size} row(s) (sample ids {first[:5].tolist()}"
                f"{' ...' if first.size > 5 else ''}); {rows.size} row(s) of the snapshot in "
                f"all. Sample {sample} holds {value} in column {column}{cause}. The run keeps "
                f"only finite values, so snapshot {self.index} is not written. (Training may "
                f"have diverged, or the outputs need scaling; earlier snapshots are safe on "
                f"disk.)"
            )
