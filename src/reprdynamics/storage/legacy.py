"""Import save directories of the original ReprDynamics into the run format.

The original tool wrote, under its ``save_path``::

    snapshots.json      list over snapshots of N×D lists of floats (one JSON array, rewritten
                        after every batch)
    data/data.npy       the wrapped dataset's inputs (``ReprDataset.save``), e.g. uint8 images
    data/labels.npy     its labels, when it had any
    neighbours.json     ``compute_neighbours`` output (not needed here: it is derived)

:func:`import_legacy` reads these and writes a run (section 6 of the design), so every
analysis and the dashboard work on one format. The old directory is only ever read.
:func:`open_legacy_cached` does the import once into a per-user cache, for
``ReprDynamics --save_dir DIR``.

This module imports nothing of ours but :mod:`reprdynamics.errors` and the run format.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import CorruptRunError, RunNotFoundError, invalid_parameter
from reprdynamics.storage.run import KINDS, Run, create_run, is_run, open_run

__all__ = [
    "CACHE_ENV_VAR",
    "LEGACY_SNAPSHOTS",
    "import_legacy",
    "is_legacy_dir",
    "legacy_cache_path",
    "legacy_snapshots_file",
    "open_legacy_cached",
    "read_legacy_json",
    "read_legacy_snapshots",
]

LEGACY_SNAPSHOTS = "snapshots.json"
CACHE_ENV_VAR = "REPRDYNAMICS_CACHE_DIR"
_OUTPUT_LAYER = "logits"


def legacy_snapshots_file(path: str | os.PathLike[str]) -> Path:
    """The ``snapshots.json`` of a legacy save directory, or the file itself if given.

    Raises
    ------
    RunNotFoundError
        Neither the path nor ``path/snapshots.json`` is a file.
    """
    target = Path(path)
    if target.is_file():
        return target
    candidate = target / LEGACY_SNAPSHOTS
    if candidate.is_file():
        return candidate
    if not target.exists():
        raise RunNotFoundError(f"No legacy ReprDynamics save directory at {str(target)!r}.")
    raise RunNotFoundError(
        f"{str(target)!r} is not a save directory of the original ReprDynamics: it holds no "
        f"{LEGACY_SNAPSHOTS!r}."
    )


def is_legacy_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a save directory of the original tool (holds ``snapshots.json``).

    Never raises for a bad path. A directory that is also a run of ours is not legacy.
    """
    try:
        target = Path(path)
        return (target / LEGACY_SNAPSHOTS).is_file() and not is_run(target)
    except (OSError, TypeError, ValueError):
        return False


def _describe_shape(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def _snapshot_array(snapshot: Any, t: int, source: Path, dtype: np.dtype) -> np.ndarray:
    """One snapshot's N×D nested list as an array, or an error that says what is wrong."""
    where = f"Snapshot {t} of {str(source)!r}"
    if not isinstance(snapshot, list) or not snapshot:
        raise CorruptRunError(
            f"{where} must be a non-empty list of N rows of D numbers; got "
            f"{_describe_shape(snapshot)}."
        )
    try:
        array = np.asarray(snapshot, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 2:
        # Find the first offending row to name it.
        width = len(snapshot[0]) if isinstance(snapshot[0], list) else None
        for r, row in enumerate(snapshot):
            if not isinstance(row, list):
                raise CorruptRunError(
                    f"{where} is malformed: row {r} is {_describe_shape(row)}, not a list of "
                    "numbers."
                )
            if len(row) != width:
                raise CorruptRunError(
                    f"{where} is ragged: row {r} has {len(row)} values, row 0 has {width}. "
                    "Every row of a snapshot must have the same length."
                )
            for value in row:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise CorruptRunError(
                        f"{where} is malformed: row {r} holds {value!r}, which is not a number."
                    )
        raise CorruptRunError(f"{where} is malformed: it is not an N×D list of numbers.")
    if array.shape[1] == 0:
        raise CorruptRunError(f"{where} has rows of length 0.")
    bad = ~np.isfinite(array)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        if snapshot[r][c] is None:  # NumPy turns JSON null into NaN
            raise CorruptRunError(
                f"{where} is malformed: row {r} holds None (JSON null), which is not a number."
            )
        rows = np.flatnonzero(bad.any(axis=1))
        raise CorruptRunError(
            f"{where} holds NaN or infinite values in {rows.size} row(s), e.g. rows "
            f"{rows[:5].tolist()}; the run keeps only finite values."
        )
    return array.astype(dtype, copy=False)


def read_legacy_json(path: str | os.PathLike[str], *, remedy: str) -> Any:
    """The content of one of the original tool's JSON files (``snapshots.json``,
    ``neighbours.json``).

    Raises
    ------
    CorruptRunError
        The file is not UTF-8 text, or not valid JSON; the message names the line and
        column, then ``remedy`` (what the user can do about it).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise CorruptRunError(
            f"{str(path)!r} is corrupt: it is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}). {remedy}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CorruptRunError(f"{str(path)!r} is corrupt: it is not UTF-8 text.") from exc


def read_legacy_snapshots(
    path: str | os.PathLike[str], *, dtype: Any = np.float64
) -> list[np.ndarray]:
    """Read a legacy ``snapshots.json`` into a list of ``(N, D)`` arrays.

    Parameters
    ----------
    path
        The legacy save directory, or its ``snapshots.json``.
    dtype
        dtype of the arrays. The default float64 keeps the JSON's values exactly.

    Raises
    ------
    RunNotFoundError
        No ``snapshots.json`` at the path.
    CorruptRunError
        The file is not valid JSON (e.g. truncated), not a list of N×D lists, ragged,
        holds snapshots of different shapes, or holds NaN / infinite values.
    """
    source = legacy_snapshots_file(path)
    raw = read_legacy_json(
        source,
        remedy="The file may be truncated, e.g. by a crash while the original tool was "
        "rewriting it.",
    )
    if not isinstance(raw, list) or not raw:
        raise CorruptRunError(
            f"{str(source)!r} must hold a non-empty list of snapshots (N×D lists); got "
            f"{_describe_shape(raw)}."
        )
    dtype = np.dtype(dtype)
    snapshots: list[np.ndarray] = []
    for t in range(len(raw)):
        array = _snapshot_array(raw[t], t, source, dtype)
        raw[t] = None  # let the nested lists go while the arrays are built
        if snapshots and array.shape != snapshots[0].shape:
            raise CorruptRunError(
                f"Snapshot {t} of {str(source)!r} has shape {array.shape}; snapshot 0 has "
                f"{snapshots[0].shape}. Every snapshot must hold the same N samples × D values."
            )
        snapshots.append(array)
    return snapshots


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise CorruptRunError(
            f"{str(path)!r} cannot be read: {exc} (arrays of Python objects are not imported; "
            "pass include_data=False to import the snapshots without it)."
        ) from exc
    except (OSError, EOFError) as exc:
        raise CorruptRunError(f"{str(path)!r} is corrupt or truncated: {exc}") from exc


def _legacy_data(data_dir: Path, n_samples: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``data/labels.npy`` and ``data/data.npy``, checked against N (either may be absent)."""
    labels = inputs = None
    labels_path = data_dir / "labels.npy"
    if labels_path.is_file():
        labels = _load_npy(labels_path)
        if labels.ndim > 1 and labels.size == n_samples:  # e.g. an (N, 1) column
            labels = labels.reshape(-1)
        if labels.shape != (n_samples,):
            count = labels.shape[0] if labels.ndim else 0
            raise CorruptRunError(
                f"{str(labels_path)!r} holds {count} labels (shape {labels.shape}), but the "
                f"snapshots hold {n_samples} samples."
            )
        if not np.issubdtype(labels.dtype, np.integer) and not (
            np.issubdtype(labels.dtype, np.floating)
            and np.all(np.isfinite(labels) & (labels == np.round(labels)))
        ):
            raise CorruptRunError(
                f"{str(labels_path)!r} must hold integer class ids; got dtype {labels.dtype}."
            )
        labels = labels.astype(np.int64)
        if labels.size and labels.min() < -1:
            raise CorruptRunError(
                f"{str(labels_path)!r} holds negative class ids (e.g. {int(labels.min())}); "
                "only -1 (unknown) is allowed."
            )
    data_path = data_dir / "data.npy"
    if data_path.is_file():
        inputs = _load_npy(data_path)
        if inputs.ndim == 0 or inputs.shape[0] != n_samples:
            count = inputs.shape[0] if inputs.ndim else 0
            raise CorruptRunError(
                f"{str(data_path)!r} holds {count} inputs (shape {inputs.shape}), but the "
                f"snapshots hold {n_samples} samples."
            )
        if inputs.dtype.kind not in "uifb":
            raise CorruptRunError(
                f"{str(data_path)!r} holds {inputs.dtype} values; only numeric inputs (images) "
                "are imported. Pass include_data=False to import the snapshots without it."
            )
    return labels, inputs


def _parse_epochs(epochs: Sequence[int] | None, n_snapshots: int) -> list[int]:
    if epochs is None:
        return list(range(n_snapshots))
    expected = f"a sequence of {n_snapshots} non-decreasing ints (one per snapshot)"
    try:
        values = [int(e) for e in epochs]
    except (TypeError, ValueError):
        raise invalid_parameter("epochs", "import_legacy", expected, epochs) from None
    if len(values) != n_snapshots or any(b < a for a, b in pairwise(values)):
        raise invalid_parameter("epochs", "import_legacy", expected, epochs)
    if any(int(e) != e for e in epochs):
        raise invalid_parameter("epochs", "import_legacy", expected, epochs)
    return values


def _same_or_inside(inner: Path, outer: Path) -> bool:
    try:
        inner.relative_to(outer)
    except ValueError:
        return False
    return True


def import_legacy(
    old_dir: str | os.PathLike[str],
    new_run: str | os.PathLike[str],
    *,
    epochs: Sequence[int] | None = None,
    overwrite: bool = False,
    kind: str = "logits",
    include_data: bool = True,
) -> Run:
    """Import a save directory of the original ReprDynamics into a new run.

    Parameters
    ----------
    old_dir
        The legacy save directory (holding ``snapshots.json`` and optionally
        ``data/data.npy`` and ``data/labels.npy``), or the path of ``snapshots.json`` itself
        (``data/`` is then looked for beside it).
    new_run
        Where the run is written (a directory, or a URL Zarr understands).
    epochs
        The epoch of each snapshot; ``0 .. T-1`` by default (the original did not store them).
    overwrite
        Replace an existing run at ``new_run``.
    kind
        What the snapshots hold: ``"logits"`` (the original stored network outputs),
        ``"probabilities"`` or ``"features"``.
    include_data
        Also import ``data/data.npy`` (inputs, for thumbnails) and ``data/labels.npy``.

    Returns
    -------
    Run
        The new run, open for appending. Its values equal the JSON's within float32 precision;
        its ``metadata["imported_from"]`` names the source file.

    Raises
    ------
    RunNotFoundError
        No legacy save directory at ``old_dir``.
    CorruptRunError
        ``snapshots.json`` is truncated, ragged, inconsistent or holds NaN; labels or inputs
        do not match the number of samples.
    RunExistsError
        ``new_run`` exists and ``overwrite`` is False.

    Notes
    -----
    The old directory is only read. Everything is checked before the run is created, and a
    run left half-written by an I/O error is removed. ``new_run`` may not be the old
    directory or a directory above it (``overwrite`` would delete the source).

    Examples
    --------
    >>> run = import_legacy("sample", "runs/sample")  # doctest: +SKIP
    >>> run.n_snapshots, run.epochs[:3]  # doctest: +SKIP
    (20, [0, 1, 2])
    """
    if kind not in KINDS:
        raise invalid_parameter("kind", "import_legacy", f"one of {KINDS}", kind)
    source = legacy_snapshots_file(old_dir)
    source_dir = source.parent.resolve()
    target_text = os.fspath(new_run)
    is_local = "://" not in target_text or target_text.startswith("file://")
    if is_local:
        target = Path(target_text.removeprefix("file://")).resolve()
        if _same_or_inside(source_dir, target) or _same_or_inside(target, source_dir):
            raise invalid_parameter(
                "new_run",
                "import_legacy",
                "a location outside the legacy directory it imports",
                target_text,
            )
    snapshots = read_legacy_snapshots(source, dtype=np.float64)
    n_samples, _ = snapshots[0].shape
    epoch_list = _parse_epochs(epochs, len(snapshots))
    labels = inputs = None
    if include_data:
        labels, inputs = _legacy_data(source.parent / "data", n_samples)
    existed = is_local and Path(target_text.removeprefix("file://")).exists()
    run = create_run(
        new_run,
        n_samples=n_samples,
        kind=kind,
        labels=labels,
        inputs=inputs,
        output_layer=_OUTPUT_LAYER,
        metadata={
            "imported_from": str(source.resolve()),
            "source_format": "ReprDynamics (original) snapshots.json",
        },
        overwrite=overwrite,
    )
    try:
        for t, epoch in enumerate(epoch_list):
            run.append_snapshot({_OUTPUT_LAYER: snapshots[t]}, epoch=epoch, step=None)
            snapshots[t] = None  # type: ignore[call-overload]  # free as we go
    except BaseException:
        if is_local and not existed:
            shutil.rmtree(target_text.removeprefix("file://"), ignore_errors=True)
        raise
    return run


# ---------------------------------------------------------------------- cache
def _cache_root() -> Path:
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "reprdynamics"


def _stamp(path: Path) -> list[Any]:
    try:
        stat = path.stat()
    except OSError:
        return [str(path.name), None]
    return [str(path.name), stat.st_mtime_ns, stat.st_size]


def legacy_cache_path(old_dir: str | os.PathLike[str]) -> Path:
    """Where :func:`open_legacy_cached` keeps the imported run of a legacy directory.

    ``<cache root>/legacy/<name>-<hash>``, the hash taken over the absolute path of
    ``snapshots.json`` and the modification time and size of it and of
    ``data/data.npy`` / ``data/labels.npy``, so an edited source gets a fresh import. The cache
    root is ``$REPRDYNAMICS_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/reprdynamics``, else
    ``~/.cache/reprdynamics``.
    """
    source = legacy_snapshots_file(old_dir).resolve()
    data_dir = source.parent / "data"
    key = json.dumps(
        [
            str(source),
            _stamp(source),
            _stamp(data_dir / "data.npy"),
            _stamp(data_dir / "labels.npy"),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.parent.name)[:40]
    return _cache_root() / "legacy" / f"{name or 'root'}-{digest}"


def open_legacy_cached(old_dir: str | os.PathLike[str], *, mode: str = "r") -> Run:
    """The run imported from a legacy directory, importing it only the first time.

    The import is written to a temporary sibling and renamed into place when complete, so
    an interrupted import is never reused, and concurrent callers both end up with one
    complete run. The run is opened with ``mode`` (``"r"``, or ``"r+"`` to let analyses
    cache their results in it). The legacy directory is only read.
    """
    if mode not in ("r", "r+"):
        raise invalid_parameter("mode", "open_legacy_cached", "'r' or 'r+'", mode)
    cached = legacy_cache_path(old_dir)
    if is_run(cached):
        return open_run(cached, mode=mode)
    cached.parent.mkdir(parents=True, exist_ok=True)
    staging = cached.parent / f".{cached.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        import_legacy(old_dir, staging)
        try:
            os.replace(staging, cached)
        except OSError:
            if not is_run(cached):  # not lost to a concurrent import: a real failure
                if cached.exists() and not any(cached.iterdir()):
                    cached.rmdir()
                    os.replace(staging, cached)
                else:
                    raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return open_run(cached, mode=mode)
