"""The layout of a run: what it stores where, its format constants and dimension names.

Layout (see ``docs/run-format.md``)::

    run/  attrs: format, format_version, created, kind, class_names, n_samples,
                 output_layer, metadata, consolidated=[entries of the first snapshots]
      snapshots/<t>            one group per committed snapshot; attrs: the entry
                               {index, epoch, step, wall_time, metrics, complete}
      representations/<layer>  float32|float16 (capacity >= T, N, D), chunks of one
                               snapshot row-block
      predictions              int32 (capacity >= T, N), argmax of the output layer
                               (-1 = not recorded)
      labels                   int32 (N,), -1 = unknown (optional)
      inputs                   (N, ...) images or features for thumbnails (optional)
      extras/<name>            per-sample arrays (N, ...) such as a label-noise mask
      parts/<t>/<rank>         rows of snapshot t written by one rank of a multi-process
                               recording, until they are merged and committed
      cache/<key>              derived results keyed by their parameters
"""

from __future__ import annotations

from zarr.codecs import ZstdCodec

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "KINDS", "dimension_names"]


FORMAT_NAME = "reprdynamics"
FORMAT_VERSION = 2  # 2: one entry per snapshot as the commit point (1: a list attribute)
KINDS = ("logits", "probabilities", "features")


# Target size of one (1, rows, D) chunk before compression: large enough for object stores,
# small enough that a big snapshot's chunks are compressed in parallel by Zarr's threads.
_CHUNK_BYTES = 4 * 1024 * 1024
# zstd level 1 for the recorded layers: half the time of Zarr's default (level 3) for 3-4 %
# more bytes (measured on ReLU features: 0.566 of the raw size instead of 0.546).
_LAYER_CODECS = (ZstdCodec(level=1),)
_ENTRIES = "snapshots"  # the group holding one committed entry per snapshot
_PARTS = "parts"  # rows of multi-process snapshots awaiting their merge
_MIN_CAPACITY = 8  # snapshots the arrays of a new run are sized for, unless told more
# Everything a run stores at its top level (overwrite deletes these and nothing else).
_OWN_NAMES = frozenset(
    {
        "zarr.json",
        "representations",
        _ENTRIES,
        _PARTS,
        "predictions",
        "labels",
        "inputs",
        "extras",
        "cache",
        "complete",
    }
)
# Every chunk of a written row is stored, even one that equals the fill value (Zarr skips
# those by default), so a chunk missing from a committed row is damage, never a default.
_DENSE = {"write_empty_chunks": True}


def _rows_per_chunk(n_samples: int, row_bytes: int) -> int:
    return int(max(1, min(n_samples, _CHUNK_BYTES // max(row_bytes, 1))))


def dimension_names(path: str, ndim: int) -> tuple[str, ...]:
    """The Zarr v3 ``dimension_names`` of the run's array at ``path`` (``docs/run-format.md``).

    xarray takes them as the arrays' dimensions (``xarray.open_zarr``), so every array the
    run records carries them; runs of earlier releases lack them and are given these same
    names by :meth:`Run.to_xarray`.

    >>> dimension_names("representations/logits", 3)
    ('snapshot', 'sample', 'logits_dim')
    >>> dimension_names("extras/clean_labels", 1), dimension_names("inputs", 3)
    (('sample',), ('sample', 'inputs_dim_1', 'inputs_dim_2'))
    """
    if path.startswith("representations/"):
        return ("snapshot", "sample", f"{path.removeprefix('representations/')}_dim")
    if path == "predictions":
        return ("snapshot", "sample")
    name = path.rsplit("/", 1)[-1]  # labels, inputs, extras/<name>: (N, ...)
    return ("sample", *(f"{name}_dim_{axis}" for axis in range(1, ndim)))
