"""Two runs over the same samples, compared sample by sample.

Given the per-sample tables of runs A and B (:func:`reprdynamics.sample_dynamics` of the
same selection), :func:`compare_samples` answers which samples one run learned and the
other did not, or forgot, and how much their margin and neighbourhoods changed:

* ``learned_x``: predicted as its label at run x's last complete snapshot;
* ``forgotten_x``: predicted as its label at some snapshot of run x, but not at the last;
* ``aum_change``, ``neighbour_stability_change``: B minus A (positive: B is more sure of
  the label, or keeps its neighbourhoods more).

Labels are A's (``label``); each run's own labels decide what it learned, so runs trained
on differently corrupted labels compare as trained. Samples without a label (-1) are
neither learned nor forgotten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from reprdynamics.errors import InvalidParameterError

if TYPE_CHECKING:
    from reprdynamics.analysis.api import SampleTable

__all__ = ["compare_samples"]


def _has(table: SampleTable, name: str) -> bool:
    return name in table.columns()


def _learned(table: SampleTable) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(table["label"])
    known = labels >= 0
    learned = known & (np.asarray(table["prediction"]) == labels)
    forgotten = known & ~np.asarray(table["never_learned"], dtype=bool) & ~learned
    return learned, forgotten


def compare_samples(table_a: SampleTable, table_b: SampleTable) -> dict[str, np.ndarray]:
    """Per-sample comparison of two runs' tables over the same sample ids.

    Returns columns by name, in this order where both tables hold what they need: ``id``,
    ``label``, ``learned_a``, ``learned_b``, ``forgotten_a``, ``forgotten_b`` (bool),
    ``aum_a``, ``aum_b``, ``aum_change``, ``forgetting_events_a``, ``forgetting_events_b``,
    ``neighbour_stability_a``, ``neighbour_stability_b``, ``neighbour_stability_change``.
    Prediction columns need both runs to have labels and outputs (not ``features``);
    neighbour stability needs both tables computed with a neighbour ``k``.

    Raises
    ------
    InvalidParameterError
        When the tables are not over the same sample ids.
    """
    ids_a, ids_b = np.asarray(table_a.ids), np.asarray(table_b.ids)
    if not np.array_equal(ids_a, ids_b):
        raise InvalidParameterError(
            "The 'table_b' parameter of compare_samples must hold the same sample ids as "
            f"table_a. Got {ids_b.size} ids against {ids_a.size}"
            + (", not the same ones." if ids_a.size == ids_b.size else ".")
        )
    out: dict[str, Any] = {"id": ids_a}
    if _has(table_a, "label"):
        out["label"] = np.asarray(table_a["label"])
    needed = ("label", "prediction", "never_learned")
    if all(_has(t, c) for t in (table_a, table_b) for c in needed):
        learned_a, forgotten_a = _learned(table_a)
        learned_b, forgotten_b = _learned(table_b)
        out |= {
            "learned_a": learned_a,
            "learned_b": learned_b,
            "forgotten_a": forgotten_a,
            "forgotten_b": forgotten_b,
        }
    for name in ("aum", "forgetting_events", "neighbour_stability"):
        if _has(table_a, name) and _has(table_b, name):
            a, b = np.asarray(table_a[name]), np.asarray(table_b[name])
            out[f"{name}_a"], out[f"{name}_b"] = a, b
            if name != "forgetting_events":
                out[f"{name}_change"] = b.astype(np.float64) - a.astype(np.float64)
    return out
