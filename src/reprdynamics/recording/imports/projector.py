"""TensorBoard projector checkpoints (``SummaryWriter.add_embedding``) into a run."""

from __future__ import annotations

import codecs
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprdynamics.errors import CorruptRunError, RunNotFoundError, invalid_parameter
from reprdynamics.recording.imports._common import (
    _KEEP_BYTES,
    _METADATA,
    _STEP_DIR,
    _TENSORS,
    PROJECTOR_CONFIG,
    PROJECTOR_FORMAT,
    _check_target,
    _finite_rows,
    _lines,
    _read_text,
    _write_run,
)
from reprdynamics.storage.run import KINDS, Run


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
