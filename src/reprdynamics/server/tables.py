"""The per-sample table as a download (CSV, Parquet) and two runs' tables compared.

The table itself is computed by :func:`reprdynamics.server.impl.prepare_samples` (one job,
one memo entry, whichever form is asked for); this module only chooses its columns and
writes them out, and compares two runs' tables with
:func:`reprdynamics.analysis.comparison.compare_samples`.
"""

from __future__ import annotations

import importlib.util
import io
from typing import Any

import numpy as np

from reprdynamics.analysis import api
from reprdynamics.analysis.comparison import compare_samples
from reprdynamics.analysis.frames import write_parquet
from reprdynamics.server import impl
from reprdynamics.server.arrays import ApiError, Params, bad_parameter
from reprdynamics.server.impl import Computation, Workspace

__all__ = [
    "prepare_compare_samples",
    "selected_columns",
    "table_csv",
    "table_parquet",
]


def selected_columns(params: Params, available: list[str]) -> list[str]:
    """The ``columns`` parameter: comma-separated names of ``available``, in the order
    wanted, no repeats; absent means all of them."""
    text = params.text("columns")
    if text is None:
        return list(available)
    names = [name.strip() for name in text.split(",")]
    expected = f"comma-separated columns of this table, of {', '.join(available)}"
    for name in names:
        if name not in available:
            raise bad_parameter("columns", expected, name or text)
    if len(set(names)) != len(names):
        raise bad_parameter("columns", f"{expected}, each once", text)
    return names


def selected_rows(params: Params, table: api.SampleTable, n_samples: int) -> api.SampleTable:
    """The rows the ``rows`` parameter names (a selection of sample ids, each in the
    table), in id order; absent means every row. The table is computed over ``samples``
    (neighbour stability among them), so ``rows`` cuts the rows a view shows out of the
    table it shows, without changing a number."""
    ids = params.selection("rows", n_samples)
    if ids is None:
        return table
    positions = np.searchsorted(table.ids, ids)
    inside = positions < table.ids.size
    if not inside.all() or not np.array_equal(table.ids[positions], ids):
        missing = ids[~inside] if not inside.all() else ids[table.ids[positions] != ids]
        raise bad_parameter(
            "rows", "ids of the table's samples (those 'samples' selects)", int(missing[0])
        )
    return table.take(positions)


def table_csv(table: api.SampleTable, columns: list[str]) -> str:
    out = io.StringIO()
    table.to_csv(out, columns=columns)
    return out.getvalue()


def _require_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise ApiError(
            422,
            "A Parquet download needs the optional dependency 'pyarrow', which is not "
            "installed on the server: pip install 'reprdynamics[parquet]' (or download CSV).",
            parameter="format",
        )


def table_parquet(table: api.SampleTable, columns: list[str]) -> bytes:
    """The chosen columns as one Parquet file, written as :meth:`SampleTable.to_parquet`
    writes it: ints, floats and booleans as stored, a cell the CSV leaves empty as null."""
    _require_pyarrow()
    out = io.BytesIO()
    write_parquet(table, out, columns)
    return out.getvalue()


def check_parquet() -> None:
    """Refuse (422) a Parquet download before any computation when pyarrow is missing."""
    _require_pyarrow()


# --------------------------------------------------------------------------- two runs
def prepare_compare_samples(ws: Workspace, params: Params) -> Computation:
    """``/api/compare/samples``: the per-sample tables of runs ``a`` and ``b`` over the same
    selection, compared sample by sample."""
    names, runs = impl.compared_runs(ws, params)
    specs = []
    for side, run in zip(("a", "b"), runs, strict=True):
        try:
            specs.append(impl.samples_spec(run, params))
        except ApiError as exc:
            if exc.parameter in (None, "run"):
                raise ApiError(exc.status, exc.message, parameter=side) from None
            raise

    def compute(progress: impl.Progress) -> dict[str, Any]:
        tables = []
        for name, run, spec in zip(names, runs, specs, strict=True):

            def report(done: int, total: int, what: str, _name: str = name) -> None:
                progress(done, total, f"{_name}: {what}")

            tables.append(impl.sample_table(ws, run, spec, report))
        columns = compare_samples(*tables)
        return {
            "a": names[0],
            "b": names[1],
            "columns": list(columns),
            "data": {name: impl.column_compact(values) for name, values in columns.items()},
            "n": int(columns["id"].size),
        }

    return Computation(
        key=(
            "compare-samples",
            impl.computation_key("a", runs[0], specs[0]),
            impl.computation_key("b", runs[1], specs[1]),
        ),
        description=f"the per-sample comparison of {names[0]} and {names[1]}",
        compute=compute,
        render=lambda data: data,
    )
