"""Several processes recording one run (distributed data-parallel training).

Every rank assembles the rows of its own ids in a snapshot buffer, as a single process
does. At the snapshot's end a rank ``r > 0`` writes its rows as a *part* of the run
(``parts/<t>/<r>``: the ids and their rows, with the facts describing them written last);
rank 0 waits for the parts of every other rank, checks that they agree with its own
(samples, layers, epoch, no id twice), scatters them into its buffer and commits the
snapshot with one ordinary append. The commit point is the same as for one process, so a
reader never sees a snapshot half merged, and a rank that dies leaves the snapshot
uncommitted and every earlier one intact.

Why parts and a merge rather than every rank writing into the shared arrays: ranks hold
interleaved ids (``DistributedSampler`` deals them out in turn), so every chunk of a
snapshot holds rows of every rank, and object stores offer no atomic read-modify-write of
a chunk. A merge costs rank 0's writer thread one read of the other ranks' rows; the
training threads of all ranks pay nothing more than in one process.

No framework is imported here: ranks find each other through the run itself.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from reprdynamics.errors import (
    CorruptRunError,
    IncompleteSnapshotWarning,
    RecordingError,
    RunNotFoundError,
)
from reprdynamics.storage.run import Run, is_run, open_run

__all__ = [
    "join_run",
    "merge_parts",
    "part_facts",
    "wait_for_commit",
    "warn_incomplete",
    "write_part",
]

_POLL_FIRST, _POLL_MAX = 0.02, 0.5  # seconds between looks at the store


def _poll(deadline: float, look: Callable[[], Any]) -> Any:
    """Call ``look`` until it returns something other than None, or the deadline passes."""
    pause = _POLL_FIRST
    while True:
        found = look()
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, _POLL_MAX)


def _sample(ids: np.ndarray) -> str:
    return f"{ids[:5].tolist()}{' ...' if ids.size > 5 else ''}"


def join_run(
    path: Any,
    *,
    rank: int,
    world_size: int,
    n_samples: int | None,
    timeout: float,
    storage_options: Mapping[str, Any] | None,
) -> Run:
    """The run rank 0 opened for this recording, as seen by rank ``rank > 0``.

    Waits (up to ``timeout`` seconds) until rank 0 has created or reopened the run and
    marked it open for ``world_size`` ranks.
    """

    def look() -> Run | None:
        try:
            if not is_run(path, storage_options=storage_options):
                return None
            run = open_run(path, mode="r+", storage_options=storage_options)
        except (RunNotFoundError, CorruptRunError):  # rank 0 may be creating it right now
            return None
        state = run.attrs.get("recording")
        return run if isinstance(state, dict) and state.get("open") is True else None

    run = _poll(time.monotonic() + timeout, look)
    if run is None:
        state = None
        try:
            if is_run(path, storage_options=storage_options):
                state = open_run(path, storage_options=storage_options).attrs.get("recording")
        except (RunNotFoundError, CorruptRunError):
            pass
        why = (
            "the run there was closed by rank 0: its recording has ended"
            if isinstance(state, dict)
            else "rank 0 has not created a run there"
        )
        raise RecordingError(
            f"Rank {rank} of {world_size} cannot join the recording at {str(path)!r}: {why} "
            f"(waited {timeout:g} s). Start every rank's Recorder with the same path, rank 0 "
            f"included."
        )
    state = run.attrs["recording"]
    if state.get("world_size") != world_size:
        raise RecordingError(
            f"Rank {rank} was started with world_size={world_size}, but rank 0 records the run "
            f"at {run.location!r} with world_size={state.get('world_size')}; every rank must "
            f"pass the same world_size."
        )
    if n_samples is not None and n_samples != run.n_samples:
        raise RecordingError(
            f"Rank {rank} was started with n_samples={n_samples}, but the run at "
            f"{run.location!r} (created by rank 0) has n_samples={run.n_samples}; every rank "
            f"must pass the same n_samples."
        )
    return run


def part_facts(
    rank: int,
    world_size: int,
    n_samples: int,
    epoch: int | None,
    layers: Mapping[str, Any],
    session: str | None,
) -> dict[str, Any]:
    return {
        "rank": rank,
        "world_size": world_size,
        "n_samples": n_samples,
        "epoch": epoch,
        "layers": {name: int(values.shape[1]) for name, values in layers.items()},
        "session": session,
    }


def _check_session(run: Run, rank: int, session: str | None) -> None:
    """Refuse to go on when rank 0 has restarted the recording since this rank joined."""
    state = run.refresh().attrs.get("recording")
    now = state.get("session") if isinstance(state, dict) else None
    if now != session:
        raise RecordingError(
            f"Rank {rank}: rank 0 restarted the recording at {run.location!r} after this rank "
            f"joined it (a rank 0 killed and started again?); restart this rank too, or "
            f"pass barrier= (e.g. torch.distributed.barrier) so ranks join together."
        )


def write_part(
    run: Run,
    t: int,
    rank: int,
    world_size: int,
    layers: Mapping[str, np.ndarray],
    written: np.ndarray,
    epoch: int | None,
    session: str | None,
) -> None:
    """Write the rows this rank recorded in snapshot ``t`` (``written``: (N,) bool)."""
    _check_session(run, rank, session)
    ids = np.flatnonzero(written).astype(np.int64)
    rows = {name: values[ids] for name, values in layers.items()}
    facts = part_facts(rank, world_size, run.n_samples, epoch, layers, session)
    run.write_part(t, rank, ids, rows, facts)


def merge_parts(
    run: Run,
    t: int,
    world_size: int,
    layers: Mapping[str, np.ndarray],
    written: Mapping[str, np.ndarray],
    epoch: int | None,
    timeout: float,
    session: str | None,
) -> np.ndarray:
    """Scatter every other rank's part of snapshot ``t`` into rank 0's ``layers``.

    ``written`` holds rank 0's own (N,) masks of recorded rows per layer. Returns the
    (N,) mask of samples recorded in every layer by some rank. Raises
    :class:`RecordingError` naming the rank when a part is missing after ``timeout``
    seconds, disagrees with rank 0's, or repeats ids of another rank; the error is also
    left in the run (``parts/<t>/error``) for the other ranks to report.
    """
    expected = part_facts(0, world_size, run.n_samples, epoch, layers, session)

    def look(rank: int) -> Any:
        part = run.read_part(t, rank)  # a part of an earlier session is not this one's
        return part if part is not None and part[2].get("session") == session else None

    mine = np.logical_or.reduce(list(written.values()))
    owner = np.where(mine, 0, -1).astype(np.int32)
    seen = {name: np.array(written[name], dtype=bool) for name in layers}
    deadline = time.monotonic() + timeout
    try:
        for rank in range(1, world_size):
            part = _poll(deadline, lambda rank=rank: look(rank))
            if part is None:
                missing = np.flatnonzero(owner < 0)
                raise RecordingError(
                    f"Snapshot {t} (epoch {epoch}) is not committed: rank {rank} of "
                    f"{world_size} did not write its rows within {timeout:g} s, and "
                    f"{missing.size} ids of the snapshot have no rank (e.g. "
                    f"{_sample(missing)}). A rank may have died, or world_size={world_size} "
                    f"is larger than the number of processes recording. Snapshots 0..{t - 1} "
                    f"are intact."
                )
            ids, rows, facts = part
            for key in ("n_samples", "world_size", "epoch", "layers"):
                if facts.get(key) != expected[key]:
                    raise RecordingError(
                        f"Snapshot {t} is not committed: rank {rank} recorded it with {key} = "
                        f"{facts.get(key)!r}, rank 0 with {expected[key]!r}. Every rank must "
                        f"record the same samples, layers and epochs."
                    )
            if ids.size and (ids.min() < 0 or ids.max() >= run.n_samples):
                raise RecordingError(
                    f"Snapshot {t}: the part of rank {rank} holds ids outside "
                    f"[0, {run.n_samples}); the run may be damaged."
                )
            taken = owner[ids]
            if (taken >= 0).any():
                clash = ids[taken >= 0]
                other = int(taken[taken >= 0][0])
                raise RecordingError(
                    f"Snapshot {t} is not committed: ranks {other} and {rank} both recorded "
                    f"{clash.size} id(s) (e.g. {_sample(clash)}). Each id belongs to one rank "
                    f"per snapshot (a DistributedSampler with drop_last=False pads the last "
                    f"batch with repeated ids: skip the padding, or record with drop_last=True)."
                )
            owner[ids] = rank
            for name, values in rows.items():
                layers[name][ids] = values
                seen[name][ids] = ~np.isnan(values).any(axis=1)
    except RecordingError as exc:
        try:
            facts = {"error": str(exc), "session": session}
            run.write_part(t, -1, np.zeros(0, np.int64), {}, facts)
        except Exception:
            pass
        raise
    return np.logical_and.reduce(list(seen.values()))


def wait_for_commit(run: Run, t: int, rank: int, timeout: float, session: str | None) -> None:
    """Wait until rank 0 committed snapshot ``t`` or reported why it could not."""

    def look() -> bool | None:
        error = run.read_part(t, -1)
        if error is not None and error[2].get("session") == session:
            raise RecordingError(f"Rank 0 could not commit snapshot {t}: {error[2]['error']}")
        return True if run.refresh().n_snapshots > t else None

    if _poll(time.monotonic() + timeout, look) is None:
        raise RecordingError(
            f"Rank {rank}: snapshot {t} was not committed within {timeout:g} s of this rank "
            f"writing its rows; rank 0 may have died or be far behind. This rank's rows of "
            f"it are in the run's parts/{t}, snapshots before it are intact."
        )


def warn_incomplete(t: int, epoch: int | None, recorded: np.ndarray) -> None:
    missing = int(recorded.size - np.count_nonzero(recorded))
    if missing:
        warnings.warn(
            f"Snapshot {t} (epoch {epoch}) ends with {missing} of {recorded.size} samples "
            f"recorded by no rank; it is written with complete=False and NaN rows for them.",
            IncompleteSnapshotWarning,
            stacklevel=2,
        )
