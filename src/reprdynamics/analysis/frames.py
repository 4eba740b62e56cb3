"""Results as data frames: the per-sample table in pandas and Parquet, a fingerprint in pandas.

Missing values follow the CSV (:meth:`SampleDynamics.to_csv`): NaN, and every label-based
column of a sample whose label is unknown (``label`` included), have no value. pandas and
pyarrow are optional (``reprdynamics[pandas]``, ``reprdynamics[parquet]``), imported here
only when a conversion is asked for. The server's Parquet download uses
:func:`parquet_table` too, so the file from the dashboard equals the file from the library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from reprdynamics.analysis.dynamics import LABEL_MEASURES
from reprdynamics.errors import invalid_parameter, require

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from reprdynamics.analysis.api import Fingerprint, SampleTable

__all__ = [
    "fingerprint_frame",
    "masked_columns",
    "parquet_table",
    "sample_frame",
    "write_parquet",
]


def masked_columns(
    table: SampleTable, columns: Sequence[str] | None, *, owner: str
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{name: (values, missing)}`` for ``columns`` of the table (default: all, CSV order).

    ``missing`` is a boolean mask of the cells without a value (NaN, or a label-based
    measure of a sample whose label is unknown), or None when every cell has one.

    Raises
    ------
    InvalidParameterError
        ``columns`` is empty, names a column the table lacks, or names one twice.
    """
    available = table.all_columns()
    names = list(available) if columns is None else list(columns)
    expected = f"a non-empty list of distinct columns of {tuple(available)}"
    unknown = [name for name in names if name not in available]
    if unknown or not names or len(set(names)) != len(names):
        raise invalid_parameter("columns", owner, expected, unknown or names)
    label_based = _label_columns(table)
    unknown_label = ~table.dynamics.known_label if "label" in available else None
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in names:
        values = np.asarray(table[name])
        missing = np.isnan(values) if np.issubdtype(values.dtype, np.floating) else None
        if unknown_label is not None and name in label_based:
            missing = unknown_label if missing is None else missing | unknown_label
        out[name] = (values, missing if missing is not None and missing.any() else None)
    return out


def sample_frame(table: SampleTable, columns: Sequence[str] | None = None) -> pandas.DataFrame:
    """The per-sample table as a :class:`pandas.DataFrame` indexed by sample id (``id``).

    The columns are those of :meth:`SampleTable.to_csv` (the measures, then the run's
    extras), or ``columns`` in that order (``id`` among them is the index, not a column).
    Floats keep their dtype, NaN where they have no value; the label-based integer and
    boolean columns (``label``, ``forgetting_events``, ``never_learned``, ``first_learned``)
    use pandas' nullable ``Int64`` / ``boolean``, ``<NA>`` for a sample without a label,
    whatever the labels, so the dtypes do not depend on the data. Other columns keep their
    NumPy dtypes.
    """
    pd = require("pandas", "pandas", "SampleTable.to_pandas")
    owner = "SampleTable.to_pandas"
    if columns is not None and list(columns) == ["id"]:
        cells = {}  # the index alone
    else:
        chosen = table.all_columns() if columns is None else list(columns)
        wanted = [name for name in chosen if name != "id"]
        if columns is not None and list(columns).count("id") > 1:
            raise invalid_parameter("columns", owner, "distinct columns", list(columns))
        cells = masked_columns(table, wanted, owner=owner)
    label_based = _label_columns(table)
    data: dict[str, Any] = {}
    for name, (values, missing) in cells.items():
        if np.issubdtype(values.dtype, np.floating):
            data[name] = np.where(missing, np.nan, values) if missing is not None else values
        elif name in label_based and values.dtype.kind in "iub":
            dtype = "boolean" if values.dtype == np.bool_ else "Int64"
            data[name] = pd.array(values, dtype=dtype)
            if missing is not None:
                data[name][missing] = pd.NA
        else:
            data[name] = values
    index = pd.Index(np.asarray(table.ids, dtype=np.int64), name="id")
    return pd.DataFrame(data, index=index, columns=list(cells))


def _label_columns(table: SampleTable) -> set[str]:
    """The measures that need a label (they have no value where the label is unknown)."""
    return {"label", *LABEL_MEASURES} & set(table.columns())


def parquet_table(table: SampleTable, columns: Sequence[str] | None = None) -> pyarrow.Table:
    """The chosen columns (default: all, ``id`` first) as a :class:`pyarrow.Table`: ints,
    floats and booleans as stored, a cell without a value (as in the CSV) as null."""
    pa = require("pyarrow", "parquet", "SampleTable.to_parquet")
    cells = masked_columns(table, columns, owner="SampleTable.to_parquet")
    return pa.table(
        {name: pa.array(values, mask=missing) for name, (values, missing) in cells.items()}
    )


def write_parquet(
    table: SampleTable,
    path_or_buffer: str | os.PathLike[str] | IO[bytes],
    columns: Sequence[str] | None = None,
) -> None:
    """Write :func:`parquet_table` as one Parquet file (a path, or a binary file object)."""
    require("pyarrow", "parquet", "SampleTable.to_parquet")
    import pyarrow.parquet as pq

    arrow = parquet_table(table, columns)
    target = path_or_buffer if hasattr(path_or_buffer, "write") else os.fspath(path_or_buffer)
    pq.write_table(arrow, target)


def fingerprint_frame(fp: Fingerprint, *, index: str = "label") -> pandas.DataFrame:
    """A fingerprint as a square :class:`pandas.DataFrame` of its distances ``D[a, b]``.

    Rows and columns are the fingerprint's rows: transitions (``"3→4"``) or snapshots
    (``"3"``), by epoch (``index="label"``), or by the run's snapshot index of each row
    (``index="snapshot"``; for a transition, the snapshot it starts from), which stays
    unique when a run holds several snapshots per epoch. The index and the columns are
    named ``"transition"`` or ``"snapshot"``. ``attrs`` hold ``kind``, ``transition``,
    ``layer``, ``k`` (neighbour kinds), ``labels``, ``snapshots`` and ``params``.
    """
    pd = require("pandas", "pandas", "Fingerprint.to_pandas")
    if index == "label":
        keys: list[Any] = list(fp.labels)
    elif index == "snapshot":
        keys = [int(t) for t in np.asarray(fp.snapshots).tolist()]
    else:
        raise invalid_parameter("index", "Fingerprint.to_pandas", "'label' or 'snapshot'", index)
    name = "transition" if fp.transition else "snapshot"
    matrix = np.asarray(fp.matrix, dtype=np.float64)
    frame = pd.DataFrame(
        matrix, index=pd.Index(keys, name=name), columns=pd.Index(keys, name=name), copy=True
    )
    params = {key: _plain(value) for key, value in dict(fp.params).items()}
    frame.attrs.update(
        {
            "kind": fp.kind,
            "transition": bool(fp.transition),
            "layer": params.get("layer"),
            **({"k": params["k"]} if "k" in params else {}),
            "labels": list(fp.labels),
            "snapshots": [int(t) for t in np.asarray(fp.snapshots).tolist()],
            "params": params,
        }
    )
    return frame


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so ``attrs`` survive JSON (and ``to_parquet``)."""
    return value.item() if isinstance(value, np.generic) else value
