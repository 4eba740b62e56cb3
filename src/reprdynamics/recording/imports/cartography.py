"""Dataset-cartography training dynamics (``dynamics_epoch_*.jsonl``) into a run."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import CorruptRunError, RunNotFoundError
from reprdynamics.recording.imports._common import (
    _EPOCH_FILE,
    CARTOGRAPHY_FORMAT,
    _check_target,
    _finite_rows,
    _write_run,
)
from reprdynamics.storage.run import Run


# -------------------------------------------------------------------- cartography
def _dynamics_files(dynamics_dir: Path) -> list[tuple[int, Path]]:
    if not dynamics_dir.is_dir():
        raise RunNotFoundError(f"No training-dynamics directory at {str(dynamics_dir)!r}.")
    directory = dynamics_dir
    if not any(_EPOCH_FILE.match(p.name) for p in directory.iterdir()):
        nested = dynamics_dir / "training_dynamics"  # the model's output_dir was given
        if nested.is_dir():
            directory = nested
    files: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = _EPOCH_FILE.match(path.name)
        if match and path.is_file():
            epoch = int(match.group(1))
            if epoch in files:
                raise CorruptRunError(
                    f"{str(directory)!r} holds two files of epoch {epoch}: "
                    f"{files[epoch].name!r} and {path.name!r}."
                )
            files[epoch] = path
    if not files:
        raise RunNotFoundError(
            f"{str(dynamics_dir)!r} holds no training dynamics: expected files "
            "dynamics_epoch_<e>.jsonl (or a training_dynamics/ folder holding them), as "
            "dataset cartography writes them."
        )
    return sorted(files.items())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_dynamics_epoch(
    path: Path, epoch: int, n_classes: int | None
) -> tuple[list[Any], np.ndarray, list[int], list[int]]:
    """One epoch file: guids, logits ``(N, C)`` float64, gold labels and line numbers."""
    key = f"logits_epoch_{epoch}"
    guids: list[Any] = []
    rows: list[list[float]] = []
    golds: list[int] = []
    seen: dict[Any, int] = {}  # guid -> its line
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{str(path)!r}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorruptRunError(
                    f"{where} is not valid JSON ({exc.msg} at column {exc.colno}); the file may "
                    "be truncated."
                ) from None
            if not isinstance(record, dict):
                raise CorruptRunError(f"{where} is not a JSON object but {type(record).__name__}.")
            missing = [k for k in ("guid", key, "gold") if k not in record]
            if missing:
                others = sorted(k for k in record if k.startswith("logits_epoch_"))
                hint = f" (it holds {others[0]!r}, another epoch's)" if others else ""
                raise CorruptRunError(
                    f"{where} lacks the key(s) {missing}{hint}; every record of "
                    f"{path.name!r} needs 'guid', {key!r} and 'gold'."
                )
            guid, logits, gold = record["guid"], record[key], record["gold"]
            if isinstance(guid, bool) or not isinstance(guid, int | str):
                raise CorruptRunError(f"{where}: the guid {guid!r} is not an int or a string.")
            if guid in seen:
                raise CorruptRunError(
                    f"{where} repeats the guid {guid!r} of line {seen[guid]}; every example "
                    "must appear once per epoch."
                )
            seen[guid] = number
            if not isinstance(logits, list) or not logits or not all(map(_is_number, logits)):
                raise CorruptRunError(
                    f"{where}: {key!r} must be a non-empty list of numbers; got {logits!r}."
                )
            if not all(math.isfinite(v) for v in logits):
                raise CorruptRunError(
                    f"{where}: {key!r} holds NaN or an infinite value ({logits!r}); a run keeps "
                    "only finite values."
                )
            if n_classes is None:
                n_classes = len(logits)
            if len(logits) != n_classes:
                raise CorruptRunError(
                    f"{where}: {key!r} holds {len(logits)} values, other records {n_classes}. "
                    "Every record needs one logit per class."
                )
            if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < n_classes:
                raise CorruptRunError(
                    f"{where}: 'gold' must be a class id, an int in [0, {n_classes - 1}]; got "
                    f"{gold!r}."
                )
            guids.append(guid)
            rows.append(logits)
            golds.append(gold)
    if not rows:
        raise CorruptRunError(f"{str(path)!r} holds no records: it is empty.")
    return guids, np.array(rows, dtype=np.float64), golds, list(seen.values())


def _guid_array(guids: list[Any], where: str) -> np.ndarray:
    if all(isinstance(g, int) for g in guids):
        if all(-(2**63) <= g < 2**63 for g in guids):
            return np.array(guids, dtype=np.int64)
        return np.array([str(g) for g in guids], dtype=np.dtypes.StringDType())
    if all(isinstance(g, str) for g in guids):
        return np.array(guids, dtype=np.dtypes.StringDType())
    example_int = next(g for g in guids if isinstance(g, int))
    example_str = next(g for g in guids if isinstance(g, str))
    raise CorruptRunError(
        f"{where} mixes int and string guids (e.g. {example_int!r} and {example_str!r}); they "
        "must all be ints or all be strings."
    )


def import_cartography(
    dynamics_dir: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Run:
    """Import dataset-cartography training dynamics (one ``.jsonl`` per epoch) as a run.

    Parameters
    ----------
    dynamics_dir
        The ``training_dynamics`` directory holding ``dynamics_epoch_<e>.jsonl``, or the
        model's output directory holding it.
    run_dir
        Where the run is written (a directory, or a URL Zarr understands).
    overwrite
        Replace an existing run at ``run_dir``.

    Returns
    -------
    Run
        The new run, ``kind="logits"``: one snapshot per epoch file in increasing ``e``
        (``epoch = e``), the logits as layer ``logits`` (float32), ``labels`` from ``gold``.
        Sample ids ``0 .. N-1`` are the guids in sorted order (numeric for int guids);
        ``extras/guid`` holds each sample's guid (int64, or strings).

    Raises
    ------
    RunNotFoundError
        No directory, or no ``dynamics_epoch_<e>.jsonl`` in it.
    CorruptRunError
        A line is not a JSON object, lacks ``guid``, ``logits_epoch_<e>`` or ``gold``,
        repeats a guid, holds logits that are ragged, not numbers, NaN or infinite, or a
        ``gold`` that is no class id; files hold different guids, or give one example
        different gold labels. The message names the file and line.
    RunExistsError
        ``run_dir`` exists and ``overwrite`` is False.

    Notes
    -----
    The confidence, variability and correctness of the cartography paper are then
    ``reprdynamics.sample_dynamics(run)`` (softmax of the logits, population standard
    deviation), computed over the same epochs as the original's ``train_dy_filtering``.
    Sorting the guids makes the ids independent of the order the examples were seen in, so
    two imports of one dataset (other seeds) compare sample by sample.

    Examples
    --------
    >>> run = import_cartography("output/training_dynamics", "runs/snli")  # doctest: +SKIP
    >>> run.epochs  # doctest: +SKIP
    [0, 1, 2, 3, 4]
    """
    source = Path(dynamics_dir)
    files = _dynamics_files(source)
    is_local = _check_target(source, run_dir, "import_cartography")
    n_classes: int | None = None
    order: dict[Any, int] = {}
    guid_values: np.ndarray | None = None
    gold: np.ndarray | None = None
    snapshots: list[np.ndarray] = []
    first_path = files[0][1]
    for epoch, path in files:
        guids, logits, golds, lines = _read_dynamics_epoch(path, epoch, n_classes)
        n_classes = logits.shape[1]
        if guid_values is None:
            guid_values = _guid_array(guids, repr(str(path)))
            ranks = np.argsort(guid_values, kind="stable")
            guid_values = guid_values[ranks]
            order = {guids[int(r)]: i for i, r in enumerate(ranks)}
            gold = np.empty(len(guids), dtype=np.int64)
        assert gold is not None
        current = set(guids)
        extra = [g for g in guids if g not in order]
        missing = [g for g in order if g not in current]
        if extra or missing:
            raise CorruptRunError(
                f"{str(path)!r} holds {len(guids)} examples, {str(first_path)!r} "
                f"{len(order)}; their guids differ"
                + (f": {extra[:3]} only in the former" if extra else "")
                + (f", {missing[:3]} only in the latter" if missing else "")
                + ". Every epoch must hold the same examples."
            )
        ids = np.fromiter((order[g] for g in guids), dtype=np.int64, count=len(guids))
        values = np.empty_like(logits)
        values[ids] = logits
        epoch_gold = np.empty(len(guids), dtype=np.int64)
        epoch_gold[ids] = golds
        if not snapshots:
            gold[:] = epoch_gold
        elif not np.array_equal(epoch_gold, gold):
            i = int(np.flatnonzero(epoch_gold != gold)[0])
            raise CorruptRunError(
                f"{str(path)!r} gives the example {guid_values[i]!r} the gold label "
                f"{int(epoch_gold[i])}, {str(first_path)!r} gives it {int(gold[i])}."
            )
        line_of_row = np.empty(len(ids), dtype=np.int64)
        line_of_row[ids] = lines
        snapshots.append(_finite_rows(values, repr(str(path)), line_of_row.tolist()))
    assert guid_values is not None and gold is not None
    epochs = [epoch for epoch, _ in files]

    def snapshot(t: int) -> tuple[dict[str, np.ndarray], int, None, None]:
        values, snapshots[t] = snapshots[t], None  # type: ignore[call-overload]
        return {"logits": values}, epochs[t], None, None

    return _write_run(
        run_dir,
        is_local=is_local,
        n_snapshots=len(files),
        snapshot=snapshot,
        create={
            "n_samples": len(guid_values),
            "kind": "logits",
            "labels": gold,
            "output_layer": "logits",
            "metadata": {
                "imported_from": str(first_path.parent.resolve()),
                "source_format": CARTOGRAPHY_FORMAT,
                "guid_extra": "guid",
            },
            "overwrite": overwrite,
        },
        extras={"guid": guid_values},
    )
