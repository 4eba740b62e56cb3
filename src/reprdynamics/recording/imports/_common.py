"""What both imports share: the target check, writing the run, parsing text files."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import CorruptRunError, invalid_parameter
from reprdynamics.storage.run import Run, create_run

PROJECTOR_FORMAT = "TensorBoard projector (SummaryWriter.add_embedding)"
CARTOGRAPHY_FORMAT = "dataset cartography training dynamics (allenai/cartography)"
PROJECTOR_CONFIG = "projector_config.pbtxt"
_TENSORS = "tensors.tsv"
_METADATA = "metadata.tsv"
_STEP_DIR = re.compile(r"^-?\d+$")
_EPOCH_FILE = re.compile(r"^dynamics_epoch_(\d+)\.jsonl$")
# Parsed snapshots are kept between the check and the write up to this many bytes; beyond
# it they are parsed again for the write (memory stays flat in T).
_KEEP_BYTES = 1 << 30


# ------------------------------------------------------------------------- shared
def _check_target(source: Path, run_dir: str | os.PathLike[str], owner: str) -> bool:
    """Refuse a local ``run_dir`` inside the source or above it; whether it is local."""
    text = os.fspath(run_dir)
    if "://" in text and not text.startswith("file://"):
        return False
    target = Path(text.removeprefix("file://")).resolve()
    source = source.resolve()
    if target == source or source in target.parents or target in source.parents:
        raise invalid_parameter(
            "run_dir", owner, "a location outside the directory it imports", text
        )
    return True


def _write_run(
    run_dir: str | os.PathLike[str],
    *,
    is_local: bool,
    n_snapshots: int,
    snapshot: Any,
    create: Mapping[str, Any],
    extras: Mapping[str, np.ndarray] | None = None,
) -> Run:
    """Create the run and append ``snapshot(t) -> (layers, epoch, step)`` for each t.

    A run this call created is removed again if writing fails (an I/O error, an interrupt).
    """
    local_path = os.fspath(run_dir).removeprefix("file://")
    existed = is_local and Path(local_path).exists()
    run = create_run(run_dir, expected_snapshots=max(n_snapshots, 1), **create)
    try:
        for name, values in (extras or {}).items():
            run.write_extra(name, values)
        for t in range(n_snapshots):
            layers, epoch, step, kinds = snapshot(t)
            run.append_snapshot(layers, epoch=epoch, step=step, layer_kinds=kinds)
        run.consolidate()
    except BaseException:
        if is_local and not existed:
            shutil.rmtree(local_path, ignore_errors=True)
        raise
    return run


def _finite_rows(values: np.ndarray, where: str, line_of_row: Sequence[int]) -> np.ndarray:
    """``values`` as float32, refusing NaN, infinities and values beyond float32's range."""
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise CorruptRunError(
            f"{where} holds {float(values[r, c])!r} at line {line_of_row[r]}, column {c + 1}; "
            f"{int(bad.any(axis=1).sum())} row(s) hold NaN or infinite values. A run keeps "
            "only finite values."
        )
    single = values.astype(np.float32)
    if not np.isfinite(single).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(single))[0])
        raise CorruptRunError(
            f"{where} holds {float(values[r, c])!r} at line {line_of_row[r]}, column {c + 1}, "
            "beyond the range of float32, the run's storage type."
        )
    return single


def _read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise CorruptRunError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.start} cannot be decoded)."
        ) from exc
    except IsADirectoryError as exc:
        raise CorruptRunError(f"{str(path)!r} is a directory, not a file.") from exc


def _lines(text: str) -> list[str]:
    """The file's lines without their ends (``\\n`` or ``\\r\\n``); no empty last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
