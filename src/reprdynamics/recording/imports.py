"""Import recordings made with other tools into the run format.

Two sources are read, each only ever read, never changed:

* **TensorBoard projector checkpoints**, as ``SummaryWriter.add_embedding(mat, metadata,
  global_step=step, tag=tag)`` (``torch.utils.tensorboard``, ``tensorboardX``) writes them::

      <log_dir>/projector_config.pbtxt           embeddings { tensor_name: "tag:00003"
                                                              tensor_path: "00003/tag/tensors.tsv"
                                                              metadata_path: ... }
      <log_dir>/<step, zero-padded to 5>/<tag>/tensors.tsv    one row per sample, tab-separated
      <log_dir>/<step>/<tag>/metadata.tsv       one label per line, or a header row and
                                                tab-separated columns
      <log_dir>/<step>/<tag>/sprite.png         optional thumbnails (not imported)

  The writer escapes ``%``, ``/`` and ``\\`` in the tag's folder name as ``%25``, ``%2f``
  and ``%5c``. :func:`import_projector` writes one snapshot per step.

* **Dataset cartography** training dynamics (Swayamdipta et al. 2020, allenai/cartography,
  ``selection_utils.log_training_dynamics``): ``training_dynamics/dynamics_epoch_<e>.jsonl``,
  one JSON object per line and training example, ``{"guid": ..., "logits_epoch_<e>": [...],
  "gold": <int>}``. :func:`import_cartography` writes one snapshot per epoch file.

Everything is parsed and checked before the run is created, so a refused source leaves no
run behind (and never replaces one). Problems in the source raise
:class:`~reprdynamics.errors.CorruptRunError` naming the file, the line and what is wrong; a
missing or empty source raises :class:`~reprdynamics.errors.RunNotFoundError`.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import CorruptRunError, RunNotFoundError, invalid_parameter
from reprdynamics.storage.run import KINDS, Run, create_run

__all__ = [
    "CARTOGRAPHY_FORMAT",
    "PROJECTOR_FORMAT",
    "ProjectorMetadata",
    "import_cartography",
    "import_projector",
    "read_projector_metadata",
    "read_projector_tensors",
]

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


# ---------------------------------------------------------------------- projector
def read_projector_tensors(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a projector ``tensors.tsv``: one sample per line, values separated by tabs.

    Blank lines are skipped, as TensorBoard's projector does.

    Parameters
    ----------
    path
        The ``tensors.tsv`` file.

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` float32 values.

    Raises
    ------
    CorruptRunError
        The file is empty, ragged (rows of different lengths), holds a cell that is not a
        number, NaN or an infinite value; the message names the line and column.
    """
    source = Path(path)
    where = repr(str(source))
    rows: list[list[str]] = []
    line_of_row: list[int] = []
    for number, line in enumerate(_lines(_read_text(source)), start=1):
        if line.strip():
            rows.append(line.split("\t"))
            line_of_row.append(number)
    if not rows:
        raise CorruptRunError(f"{where} holds no rows: it is empty.")
    widths = Counter(len(row) for row in rows)
    if len(widths) > 1:
        width = widths.most_common(1)[0][0]
        r = next(r for r, row in enumerate(rows) if len(row) != width)
        raise CorruptRunError(
            f"{where} is ragged: line {line_of_row[r]} has {len(rows[r])} values, "
            f"{widths[width]} of its {len(rows)} rows have {width}. Every row must have the "
            "same length."
        )
    width = len(rows[0])
    try:
        values = np.array([cell for row in rows for cell in row], dtype=np.float64)
    except ValueError:
        values = None
    if values is None:
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise CorruptRunError(
                        f"{where} is malformed: line {line_of_row[r]}, column {c + 1} holds "
                        f"{cell!r}, which is not a number."
                    ) from None
        raise CorruptRunError(f"{where} is malformed: it is not a table of numbers.")
    return _finite_rows(values.reshape(len(rows), width), where, line_of_row)


@dataclass(frozen=True)
class ProjectorMetadata:
    """A projector ``metadata.tsv``: column names and one row of strings per sample."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> list[str]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def read_projector_metadata(
    path: str | os.PathLike[str], n_samples: int | None = None
) -> ProjectorMetadata:
    """Read a projector ``metadata.tsv``.

    As TensorBoard's projector reads it: a first line holding a tab is a header and the
    file has those columns; otherwise there is one column, ``label``, and every line is a
    sample's value. ``SummaryWriter.add_embedding`` with a one-column ``metadata_header``
    writes a header without a tab; a one-column file of ``n_samples + 1`` lines is
    therefore read as a header and ``n_samples`` values.

    Parameters
    ----------
    path
        The ``metadata.tsv`` file.
    n_samples
        The number of samples (rows of ``tensors.tsv``) the file must describe, if known.

    Raises
    ------
    CorruptRunError
        The file is empty, a row has more or fewer cells than the header, or the number of
        rows differs from ``n_samples``.
    """
    source = Path(path)
    where = repr(str(source))
    lines = _lines(_read_text(source))
    while n_samples is not None and len(lines) > n_samples and not lines[-1].strip():
        lines.pop()  # blank lines after the last sample
    if not lines:
        raise CorruptRunError(f"{where} holds no rows: it is empty.")
    if "\t" in lines[0]:
        columns = tuple(lines[0].split("\t"))
        body, first = lines[1:], 2
    elif n_samples is not None and len(lines) == n_samples + 1:
        columns, body, first = (lines[0],), lines[1:], 2
    else:
        columns, body, first = ("label",), lines, 1
    rows = []
    for number, line in enumerate(body, start=first):
        cells = tuple(line.split("\t"))
        if len(cells) != len(columns):
            raise CorruptRunError(
                f"{where} is ragged: line {number} has {len(cells)} cells, the header has "
                f"{len(columns)} ({', '.join(map(repr, columns))})."
            )
        rows.append(cells)
    if n_samples is not None and len(rows) != n_samples:
        raise CorruptRunError(
            f"{where} describes {len(rows)} samples, but the tensors.tsv beside it holds "
            f"{n_samples} rows. Every sample needs one metadata row."
        )
    return ProjectorMetadata(columns=columns, rows=tuple(rows))


def _decode_tag(folder: str) -> str:
    """The tag of a folder named by ``SummaryWriter._encode`` (``%``, ``/``, ``\\`` escaped)."""
    return re.sub(
        r"%(25|2f|5c)",
        lambda m: {"25": "%", "2f": "/", "5c": "\\"}[m.group(1).lower()],
        folder,
        flags=re.IGNORECASE,
    )


def _unescape(text: str) -> str:
    """A protobuf text-format string literal's content (C escapes, octal UTF-8 bytes)."""
    try:
        return codecs.escape_decode(text.encode("utf-8"))[0].decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return text


def _config_entries(log_dir: Path) -> list[tuple[str, str]]:
    """``(tensor_name, tensor_path)`` of each ``embeddings`` entry of the projector config."""
    config = log_dir / PROJECTOR_CONFIG
    if not config.is_file():
        return []
    text = _read_text(config)
    literal = r'"((?:[^"\\]|\\.)*)"'
    entries = []
    for block in re.split(r"\bembeddings\s*\{", text)[1:]:
        name = re.search(r"\btensor_name\s*:\s*" + literal, block)
        path = re.search(r"\btensor_path\s*:\s*" + literal, block)
        if path is not None:
            entries.append((_unescape(name.group(1)) if name else "", _unescape(path.group(1))))
    return entries


@dataclass(frozen=True)
class _Checkpoint:
    step: int
    folder: Path
    tags: dict[str, Path]  # tag -> its folder


def _projector_checkpoints(log_dir: Path) -> list[_Checkpoint]:
    if not log_dir.is_dir():
        raise RunNotFoundError(f"No TensorBoard log directory at {str(log_dir)!r}.")
    checkpoints: dict[int, _Checkpoint] = {}
    for folder in sorted(log_dir.iterdir()):
        if not folder.is_dir() or not _STEP_DIR.match(folder.name):
            continue
        step = int(folder.name)
        tags = {_decode_tag(sub.name): sub for sub in sorted(folder.iterdir()) if sub.is_dir()}
        if not tags:
            continue
        if step in checkpoints:
            raise CorruptRunError(
                f"{str(log_dir)!r} holds two checkpoints of step {step}: "
                f"{checkpoints[step].folder.name!r} and {folder.name!r}."
            )
        checkpoints[step] = _Checkpoint(step=step, folder=folder, tags=tags)
    if not checkpoints:
        hint = ""
        nested = sorted(
            p.parent.name for p in log_dir.glob(f"*/{PROJECTOR_CONFIG}") if p.parent != log_dir
        )
        if nested:
            hint = (
                f" Its sub-directories {', '.join(map(repr, nested[:5]))} hold projector configs."
            )
        raise RunNotFoundError(
            f"{str(log_dir)!r} holds no TensorBoard projector checkpoints: expected folders "
            f"<step>/<tag>/{_TENSORS}, as SummaryWriter.add_embedding writes them.{hint}"
        )
    return [checkpoints[s] for s in sorted(checkpoints)]


def _layer_name(tag: str) -> str:
    name = tag.replace("/", ".").replace("\\", ".")
    if not name or name.startswith(".") or name.startswith("__"):
        raise invalid_parameter(
            "layer", "import_projector", f"given for tag {tag!r} (no valid layer name)", None
        )
    return name


def _parse_tags(tag: Any, checkpoints: list[_Checkpoint], kind: str) -> list[str]:
    found = sorted({t for c in checkpoints for t in c.tags})
    if tag is None:
        if len(found) > 1 and kind != "features":
            raise invalid_parameter(
                "tag",
                "import_projector",
                f"the tag of the {kind} (first; further tags are imported as features layers) "
                f"when the log directory holds several tags {found}",
                None,
            )
        return found
    tags = [tag] if isinstance(tag, str) else list(tag) if isinstance(tag, Sequence) else None
    if not tags or not all(isinstance(t, str) for t in tags) or len(set(tags)) != len(tags):
        raise invalid_parameter(
            "tag", "import_projector", f"a tag or a list of distinct tags of {found}", tag
        )
    unknown = [t for t in tags if t not in found]
    if unknown:
        raise invalid_parameter("tag", "import_projector", f"one of the tags {found}", unknown[0])
    return tags


def _label_ids(
    values: list[str], class_names: Sequence[str] | None, where: str
) -> tuple[np.ndarray, list[str] | None]:
    """Class ids of metadata values ('' = unknown, -1) and the class names."""
    known = [v for v in values if v != ""]
    if class_names is not None:
        names = [str(c) for c in class_names]
        index = {name: i for i, name in enumerate(names)}
        missing = sorted({v for v in known if v not in index})
        if missing:
            raise CorruptRunError(
                f"{where} holds labels {missing[:5]} that are not among class_names {names}."
            )
        return np.array([index.get(v, -1) for v in values], dtype=np.int64), names
    if known and all(re.fullmatch(r"\d+", v.strip()) for v in known):
        # Integer labels are class ids already (a logit's column), names "0", "1", ...
        return np.array([int(v) if v != "" else -1 for v in values], dtype=np.int64), None
    names = sorted(set(known))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(v, -1) for v in values], dtype=np.int64), names


def _projector_labels(
    checkpoints: list[_Checkpoint],
    tag: str,
    n_samples: int,
    label_column: str | None,
    class_names: Sequence[str] | None,
) -> tuple[np.ndarray | None, list[str] | None, str | None]:
    """Labels from the first tag's metadata: the same column must agree at every step."""
    files = [c.tags[tag] / _METADATA for c in checkpoints if (c.tags[tag] / _METADATA).is_file()]
    if not files:
        if label_column is not None:
            raise CorruptRunError(
                f"No {_METADATA} beside the tensors of tag {tag!r} in any step, so there is "
                f"no column {label_column!r} to take labels from."
            )
        return None, None, None
    column = label_column
    reference: list[str] | None = None
    for path in files:
        meta = read_projector_metadata(path, n_samples)
        if column is None:
            if len(meta.columns) != 1:
                raise invalid_parameter(
                    "label_column",
                    "import_projector",
                    f"the column of {str(path)!r} holding the labels, one of {list(meta.columns)} "
                    "(or labels=False to import none)",
                    None,
                )
            column = meta.columns[0]
        if column not in meta.columns:
            raise invalid_parameter(
                "label_column",
                "import_projector",
                f"a column of {str(path)!r}, one of {list(meta.columns)}",
                column,
            )
        values = meta.column(column)
        if reference is None:
            reference, first = values, path
        elif values != reference:
            row = next(i for i, (a, b) in enumerate(zip(values, reference, strict=True)) if a != b)
            raise CorruptRunError(
                f"{str(path)!r} gives sample {row} the {column!r} {values[row]!r}, but "
                f"{str(first)!r} gives it {reference[row]!r}. The rows of every step must be "
                "the same samples in the same order."
            )
    assert reference is not None
    labels, names = _label_ids(reference, class_names, repr(str(files[0])))
    return labels, names, column


def import_projector(
    log_dir: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    tag: str | Sequence[str] | None = None,
    label_column: str | None = None,
    labels: bool = True,
    class_names: Sequence[str] | None = None,
    kind: str = "features",
    layer: str | None = None,
    overwrite: bool = False,
) -> Run:
    """Import TensorBoard projector checkpoints (``add_embedding``, one per step) as a run.

    Parameters
    ----------
    log_dir
        The ``SummaryWriter``'s log directory: it holds ``<step>/<tag>/tensors.tsv`` (and
        ``metadata.tsv``) for each ``add_embedding`` call, and ``projector_config.pbtxt``.
    run_dir
        Where the run is written (a directory, or a URL Zarr understands).
    tag
        The tag to import, or a list of tags (the first is the output layer, the others are
        imported as ``features`` layers). Default: every tag found (only one may be found
        unless ``kind`` is ``"features"``). Every step must hold every imported tag.
    label_column
        The metadata column holding each sample's label. Default: the only column of a
        one-column ``metadata.tsv`` (TensorBoard calls it ``label``).
    labels
        Import labels at all; ``False`` ignores the metadata.
    class_names
        The class names, in the order of the logits' columns. Labels are then their index
        here. Default: integer labels are taken as class ids; other labels are numbered in
        sorted order of their distinct values (which is the class names' order).
    kind
        What the (first) tag holds: ``"features"`` (default), ``"logits"`` or
        ``"probabilities"``.
    layer
        The (first) tag's layer name in the run; default the tag, with ``/`` turned into
        ``.``. Further tags are always named so.
    overwrite
        Replace an existing run at ``run_dir``.

    Returns
    -------
    Run
        The new run: snapshot ``t`` is the ``t``-th step in increasing order (``epoch = t``,
        ``step`` = the ``global_step``), values equal the TSV's in float32;
        ``metadata`` names the source, the tags of the layers and the label column.

    Raises
    ------
    RunNotFoundError
        No log directory, or no projector checkpoints in it.
    CorruptRunError
        A ``tensors.tsv`` is empty, ragged, holds a cell that is not a number, NaN or an
        infinite value; steps hold different numbers of rows or dimensions, or lack a tag;
        a ``metadata.tsv`` has another number of rows, or its labels differ between steps;
        a file the projector config lists is missing.
    InvalidParameterError
        ``tag``, ``label_column``, ``kind`` or ``layer`` are not among what is found.
    RunExistsError
        ``run_dir`` exists and ``overwrite`` is False.

    Notes
    -----
    The projector stores no sample ids: row ``i`` of every step is taken to be sample ``i``
    (``add_embedding`` of the same samples in the same order at each step). Labels that
    differ between steps are refused as a sign that it was not. ``sprite.png`` is not
    imported. The log directory is only read; everything is checked before the run is
    created.

    Examples
    --------
    >>> writer.add_embedding(features, metadata=labels, global_step=epoch)  # doctest: +SKIP
    >>> run = import_projector("runs/exp1", "imported/exp1")  # doctest: +SKIP
    """
    if kind not in KINDS:
        raise invalid_parameter("kind", "import_projector", f"one of {KINDS}", kind)
    if layer is not None and (
        not isinstance(layer, str) or not layer or "/" in layer or layer.startswith((".", "__"))
    ):
        raise invalid_parameter(
            "layer", "import_projector", "a name without '/' not starting with '.'", layer
        )
    source = Path(log_dir)
    checkpoints = _projector_checkpoints(source)
    is_local = _check_target(source, run_dir, "import_projector")
    tags = _parse_tags(tag, checkpoints, kind)
    for checkpoint in checkpoints:
        for t in tags:
            if t not in checkpoint.tags:
                raise CorruptRunError(
                    f"Step {checkpoint.step} ({str(checkpoint.folder)!r}) holds no embedding of "
                    f"tag {t!r}; it holds {sorted(checkpoint.tags)}. Every step must hold every "
                    "imported tag (choose tags with tag=)."
                )
            if not (checkpoint.tags[t] / _TENSORS).is_file():
                raise CorruptRunError(
                    f"{str(checkpoint.tags[t])!r} holds no {_TENSORS} (the embedding of tag "
                    f"{t!r} at step {checkpoint.step})."
                )
    for name, path in _config_entries(source):
        if name.rpartition(":")[0] in tags and not (source / path).is_file():
            raise CorruptRunError(
                f"{str(source / PROJECTOR_CONFIG)!r} lists the embedding {name!r} at {path!r}, "
                "which does not exist: the log directory is incomplete."
            )
    names = [layer or _layer_name(tags[0]), *(_layer_name(t) for t in tags[1:])]
    if len(set(names)) != len(names):
        raise invalid_parameter(
            "tag",
            "import_projector",
            "tags whose layer names differ",
            dict(zip(tags, names, strict=True)),
        )

    shape: dict[str, tuple[int, int]] = {}
    kept: list[dict[str, np.ndarray] | None] = []
    kept_bytes = 0

    def step_layers(t: int) -> dict[str, np.ndarray]:
        checkpoint = checkpoints[t]
        arrays = {}
        for name, tag_name in zip(names, tags, strict=True):
            path = checkpoint.tags[tag_name] / _TENSORS
            values = read_projector_tensors(path)
            first = shape.setdefault(tag_name, values.shape)
            if values.shape[0] != first[0] or values.shape[0] != shape[tags[0]][0]:
                raise CorruptRunError(
                    f"{str(path)!r} holds {values.shape[0]} rows, but step "
                    f"{checkpoints[0].step} holds {shape[tags[0]][0]}. Every step must hold the "
                    "same samples."
                )
            if values.shape[1] != first[1]:
                raise CorruptRunError(
                    f"{str(path)!r} holds {values.shape[1]} values per row, but tag "
                    f"{tag_name!r} at step {checkpoints[0].step} holds {first[1]}."
                )
            arrays[name] = values
        return arrays

    for t in range(len(checkpoints)):  # every file is checked before anything is written
        arrays = step_layers(t)
        kept_bytes += sum(a.nbytes for a in arrays.values())
        kept.append(arrays if kept_bytes <= _KEEP_BYTES else None)
    n_samples = shape[tags[0]][0]
    label_ids = names_of_classes = column = None
    if labels:
        label_ids, names_of_classes, column = _projector_labels(
            checkpoints, tags[0], n_samples, label_column, class_names
        )
    if kind != "features" and names_of_classes is not None:
        d = shape[tags[0]][1]
        if len(names_of_classes) > d:
            raise CorruptRunError(
                f"The labels of tag {tags[0]!r} name {len(names_of_classes)} classes, but its "
                f"{kind} have {d} columns; pass class_names= (--class-names) in the order of "
                "the columns."
            )

    def snapshot(t: int) -> tuple[dict[str, np.ndarray], int, int, dict[str, str]]:
        arrays = kept[t]
        kept[t] = None
        if arrays is None:
            arrays = step_layers(t)
        return arrays, t, checkpoints[t].step, {n: "features" for n in names[1:]}

    return _write_run(
        run_dir,
        is_local=is_local,
        n_snapshots=len(checkpoints),
        snapshot=snapshot,
        create={
            "n_samples": n_samples,
            "kind": kind,
            "labels": label_ids,
            "class_names": names_of_classes,
            "output_layer": names[0],
            "metadata": {
                "imported_from": str(source.resolve()),
                "source_format": PROJECTOR_FORMAT,
                "tags": dict(zip(names, tags, strict=True)),
                "label_column": column,
            },
            "overwrite": overwrite,
        },
    )


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
