"""A run as a labelled, lazy :class:`xarray.Dataset` (:meth:`Run.to_xarray`).

The dataset's variables wrap the run's Zarr arrays in xarray's own lazy indexing (the way
its backends do), so building it reads no recorded values and no Dask is needed; a
selection (``ds["logits"].isel(snapshot=3)``) reads just the chunks it covers, with the
checks of :meth:`Run.read` (a chunk missing from a complete snapshot raises
:class:`~reprdynamics.errors.CorruptRunError` rather than reading as fill values). Only the
``T`` committed snapshots are shown, never the arrays' spare rows beyond them.

The dimension names are those the run format stores (:func:`dimension_names`), so
``xarray.open_zarr`` on a run's groups gives the same dimensions without this package.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from reprdynamics.errors import require
from reprdynamics.storage.run import Run, dimension_names

if TYPE_CHECKING:
    import xarray

__all__ = ["COORDINATES", "to_xarray"]

#: Coordinates every dataset may carry; variables of the same name get a prefix.
COORDINATES = (
    "snapshot",
    "epoch",
    "step",
    "wall_time",
    "complete",
    "sample",
    "labels",
    "class_name",
)


def to_xarray(run: Run) -> xarray.Dataset:
    """The run as a lazy :class:`xarray.Dataset`.

    Dimensions
        ``snapshot`` (T), ``sample`` (N), ``<layer>_dim`` per layer, and
        ``<name>_dim_<axis>`` for the further axes of the inputs and extras.
    Coordinates
        ``snapshot`` (0..T-1) with ``epoch``, ``step``, ``wall_time`` (seconds since the
        epoch) and ``complete`` (every sample recorded) along it; ``epoch`` and ``step``
        are int64, or float64 with NaN when some snapshot has none. ``sample`` (ids
        0..N-1) with ``labels`` (-1 = unknown) and ``class_name`` ("" where unknown) along
        it, when the run has labels.
    Data variables (lazy unless noted)
        one per layer (``snapshot × sample × <layer>_dim``, attribute ``kind``; NaN rows
        for samples a snapshot did not record), ``predictions`` (``snapshot × sample``,
        -1 where not recorded), ``inputs`` and every extra (``sample × ...``), and each
        metric as a float64 variable over ``snapshot`` (in memory; NaN where a snapshot
        lacks it; text metrics as strings, "" where missing). A name already taken by a
        coordinate or an earlier variable gets the prefix ``layer_``, ``extra_`` or
        ``metric_``.
    Attributes
        ``format``, ``format_version``, ``created``, ``kind``, ``output_layer``,
        ``class_names`` (empty when the run names none), ``n_samples`` and ``metadata``,
        all JSON-serialisable (``ds.to_zarr`` writes them as they are).

    Needs the ``xarray`` extra (``pip install 'reprdynamics[xarray]'``); Dask is not
    needed (``ds.chunk()`` turns the variables into Dask arrays where it is installed).
    """
    xr = require("xarray", "xarray", "Run.to_xarray")
    lazy = _lazy_array_class()
    n_snapshots, n_samples = run.n_snapshots, run.n_samples
    entries = run.snapshots
    coords: dict[str, Any] = {
        "snapshot": ("snapshot", np.arange(n_snapshots, dtype=np.int64)),
        "epoch": ("snapshot", _ints_or_nan([s.epoch for s in entries])),
        "step": ("snapshot", _ints_or_nan([s.step for s in entries])),
        "wall_time": ("snapshot", _floats([s.wall_time for s in entries])),
        "complete": ("snapshot", run.complete),
        "sample": ("sample", np.arange(n_samples, dtype=np.int64)),
    }
    labels = run.labels
    if labels is not None:
        coords["labels"] = ("sample", labels)
        names = run.class_names or []
        known = (labels >= 0) & (labels < len(names))
        table = np.array([*names, ""], dtype=str)  # "" where the label or its name is unknown
        coords["class_name"] = ("sample", table[np.where(known, labels, len(names))])

    taken = set(COORDINATES)
    variables: dict[str, Any] = {}

    def add(name: str, prefix: str, variable: Any) -> None:
        while name in taken:
            name = f"{prefix}{name}"
        taken.add(name)
        variables[name] = variable

    def recorded(path: str, rows: int | None, attrs: dict[str, Any] | None = None) -> Any:
        backend = lazy(run, path, rows)
        dims = dimension_names(path, len(backend.shape))
        return xr.Variable(dims, _lazily_indexed(backend), attrs=attrs)

    for layer in run.layers:
        variable = recorded(
            f"representations/{layer}", n_snapshots, {"kind": run.layer_kind(layer)}
        )
        add(layer, "layer_", variable)
    add("predictions", "layer_", recorded("predictions", n_snapshots))
    if run.has_inputs:
        add("inputs", "extra_", recorded("inputs", None))
    for extra in run.extras:
        add(extra, "extra_", recorded(f"extras/{extra}", None))
    for metric in run.metric_names:
        add(metric, "metric_", xr.Variable(("snapshot",), _metric(run, metric)))

    attrs = {
        "format": run.attrs.get("format"),
        "format_version": run.attrs.get("format_version"),
        "created": run.created,
        "kind": run.kind,
        "output_layer": run.output_layer,
        "class_names": run.class_names or [],
        "n_samples": n_samples,
        # Through JSON, so the attributes stay writable by ds.to_zarr / to_netcdf.
        "metadata": json.loads(json.dumps(run.metadata, default=str)),
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _ints_or_nan(values: list[int | None]) -> np.ndarray:
    if all(v is not None for v in values):
        return np.array(values, dtype=np.int64)
    return _floats(values)


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _metric(run: Run, name: str) -> np.ndarray:
    """A metric per snapshot: numbers as float64 (NaN where missing), text as strings."""
    values = [(s.metrics or {}).get(name) for s in run.snapshots]
    if any(isinstance(v, str) for v in values):
        return np.array(["" if v is None else str(v) for v in values], dtype=str)
    return run.metric(name)


def _lazily_indexed(backend: Any) -> Any:
    from xarray.core import indexing

    return indexing.LazilyIndexedArray(backend)


@functools.cache
def _lazy_array_class() -> type:
    """The backend array class; made on first use, since xarray is imported lazily."""
    from xarray.backends import BackendArray
    from xarray.core import indexing

    class RunArray(BackendArray):
        """One array of a run, read on demand; cut to its first ``rows`` rows (the
        committed snapshots) when ``rows`` is given."""

        def __init__(self, run: Run, path: str, rows: int | None) -> None:
            array = run._array(path)  # the storage layer's own handle, metadata read once
            self.run, self.path, self.rows = run, path, rows
            self.shape = tuple(array.shape) if rows is None else (rows, *array.shape[1:])
            self.dtype = np.dtype(array.dtype)

        def __reduce__(self) -> tuple[Any, ...]:
            # Pickled (to Dask workers, say) as where to find it: the copy opens the run
            # itself, read-only, rather than shipping a store handle.
            run = self.run
            return (_reopened, (run.location, run.storage_options, self.path, self.rows))

        def __getitem__(self, key: Any) -> np.ndarray:
            return indexing.explicit_indexing_adapter(
                key, self.shape, indexing.IndexingSupport.OUTER, self._outer
            )

        def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
            """An outer (orthogonal) selection: one int, slice or 1-D int array per axis."""
            run, path = self.run, self.path
            array = run._array(path)
            key = tuple(_positive(k, size) for k, size in zip(key, self.shape, strict=True))
            if self.rows is None:
                with run._decoding(path, None):
                    values = np.asarray(array.get_orthogonal_selection(key))
                if path == "inputs":
                    run._require_chunks(path, None)  # as Run.inputs: no fill values
                return values
            # Snapshot rows: slices are made concrete within the first T rows, so the
            # spare rows beyond them are never read.
            snapshots = np.arange(self.rows)[key[0]]
            only = int(snapshots) if snapshots.ndim == 0 else None
            with run._decoding(path, only):
                values = np.asarray(array.get_orthogonal_selection(key))
            for t in np.atleast_1d(snapshots).tolist():
                if run._row_must_be_whole(path, t):
                    run._require_chunks(path, t)  # a lost chunk is damage, not NaN
            return values

    return RunArray


def _reopened(
    location: str, storage_options: dict[str, Any] | None, path: str, rows: int | None
) -> Any:
    from reprdynamics.storage.run import open_run

    return _lazy_array_class()(open_run(location, storage_options=storage_options), path, rows)


def _positive(key: Any, size: int) -> Any:
    """One axis' indexer within ``[0, size)``: slices concrete, negative ints wrapped."""
    if isinstance(key, slice):
        start, stop, step = key.indices(size)
        return slice(start, stop, step) if step > 0 else np.arange(start, stop, step)
    if isinstance(key, np.ndarray):
        return np.where(key < 0, key + size, key)
    return int(key) + size if int(key) < 0 else int(key)
