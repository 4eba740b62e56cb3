"""The table of per-sample dynamics, :class:`SampleDynamics`, and its CSV form."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import describe_array
from reprdynamics.errors import LabelsRequiredError, invalid_parameter

#: Columns of :class:`SampleDynamics` that need the sample's label.
LABEL_MEASURES: tuple[str, ...] = (
    "confidence",
    "variability",
    "correctness",
    "forgetting_events",
    "never_learned",
    "aum",
    "first_learned",
)

#: Every column a table can have, in CSV order (``id`` comes first in the file).
_COLUMN_ORDER: tuple[str, ...] = (
    "label",
    "prediction",
    "entropy_first",
    "entropy_last",
    "entropy_mean",
    "confidence",
    "variability",
    "correctness",
    "forgetting_events",
    "never_learned",
    "aum",
    "neighbour_stability",
    "first_learned",
)


@dataclass(frozen=True, eq=False)
class SampleDynamics:
    """The table of per-sample dynamics, one array per measure (``None`` when not applicable).

    Measures that need labels are ``None`` when the table was computed without labels;
    prediction measures are ``None`` when the run's kind is ``"features"``;
    ``neighbour_stability`` is ``None`` unless overlaps were given.

    Attributes
    ----------
    n_snapshots : int
        Number of snapshots T summarised.
    n_samples : int
        Number of samples N.
    kind : str
        ``"logits"``, ``"probabilities"`` or ``"features"``.
    labels : ndarray of int64, shape (N,), or None
        Gold class per sample, ``-1`` = unknown.
    prediction : ndarray of int64, shape (N,), or None
        ``ŷ`` at the last snapshot (argmax; ties → smallest class index).
    entropy : ndarray of float32, shape (T, N), or None
        Prediction entropy at every snapshot (:func:`prediction_entropy`).
    confidence, variability, correctness : ndarray of float64, shape (N,), or None
        See :class:`Cartography`.
    forgetting_events : ndarray of int64, shape (N,), or None
    never_learned : ndarray of bool, shape (N,), or None
        See :class:`Forgetting`.
    aum : ndarray of float64, shape (N,), or None
        Area under the margin (:func:`area_under_margin`).
    first_learned : ndarray of int64, shape (N,), or None
        See :func:`first_learned`.
    neighbour_stability : ndarray of float64, shape (N,), or None
        See :func:`neighbour_stability`.
    """

    n_snapshots: int
    n_samples: int
    kind: str
    labels: NDArray[np.int64] | None = None
    prediction: NDArray[np.int64] | None = None
    entropy: NDArray[np.float32] | None = None
    confidence: NDArray[np.float64] | None = None
    variability: NDArray[np.float64] | None = None
    correctness: NDArray[np.float64] | None = None
    forgetting_events: NDArray[np.int64] | None = None
    never_learned: NDArray[np.bool_] | None = None
    aum: NDArray[np.float64] | None = None
    first_learned: NDArray[np.int64] | None = None
    neighbour_stability: NDArray[np.float64] | None = None

    def take(self, positions: ArrayLike) -> SampleDynamics:
        """The table of the samples at ``positions`` (row indices), in that order."""
        rows = np.asarray(positions, dtype=np.int64)
        if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= self.n_samples)):
            expected = f"a 1-D array of row indices in [0, {self.n_samples})"
            raise invalid_parameter(
                "positions", "SampleDynamics.take", expected, describe_array(rows)
            )
        changes: dict[str, Any] = {"n_samples": int(rows.size)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = value[..., rows]  # (N,) columns and the (T, N) entropy
        return replace(self, **changes)

    @property
    def known_label(self) -> NDArray[np.bool_]:
        """Boolean mask (N,) of samples whose label is known (all False without labels)."""
        if self.labels is None:
            return np.zeros(self.n_samples, dtype=bool)
        return self.labels >= 0

    def _derived(self, name: str) -> NDArray[Any] | None:
        if name.startswith("entropy_"):
            if self.entropy is None:
                return None
            if name == "entropy_first":
                return self.entropy[0]
            if name == "entropy_last":
                return self.entropy[-1]
            return self.entropy.mean(axis=0, dtype=np.float64)
        if name == "label":
            return self.labels
        return getattr(self, name)

    def columns(self) -> list[str]:
        """Names of the per-sample columns this table holds, in CSV order (without ``id``)."""
        return [name for name in _COLUMN_ORDER if self._derived(name) is not None]

    def column(self, name: str) -> NDArray[Any]:
        """One column (N,) by name; entropy is summarised as ``entropy_first/last/mean``.

        Raises
        ------
        LabelsRequiredError
            For a label-based measure of a table computed without labels.
        InvalidParameterError
            For an unknown name or a measure this table does not hold.
        """
        if name not in _COLUMN_ORDER:
            expected = f"one of {_COLUMN_ORDER}"
            raise invalid_parameter("name", "SampleDynamics.column", expected, name)
        value = self._derived(name)
        if value is None:
            if (name in LABEL_MEASURES or name == "label") and self.kind != "features":
                raise LabelsRequiredError(
                    f"The measure {name!r} needs labels; this table was computed without them."
                )
            raise invalid_parameter(
                "name", "SampleDynamics.column", f"one of {tuple(self.columns())}", name
            )
        return value

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """``{column name: (N,) array}`` for every column in :meth:`columns`."""
        return {name: self.column(name) for name in self.columns()}

    def to_csv(
        self,
        path_or_buffer: str | os.PathLike[str] | IO[str],
        *,
        ids: ArrayLike | None = None,
        extras: Mapping[str, ArrayLike] | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        """Write the table as CSV with a header row: ``id``, :meth:`columns`, then ``extras``.

        Floats are written in their shortest round-trip form, booleans as ``true``/``false``.
        Cells that have no value — NaN, and every label-based column of a sample whose label
        is unknown (including ``label`` itself) — are left empty.

        Parameters
        ----------
        path_or_buffer : str, path-like or text file object
            Where to write. A path is opened (and closed) here; a buffer is written to as is.
        ids : array-like of shape (N,), optional
            Sample ids for the ``id`` column; default ``0..N-1``.
        extras : mapping of str to array-like of shape (N,), optional
            More columns, written after the measures (a run's ``label_flipped``).
        columns : sequence of str, optional
            The columns to write, in this order (default: all of them).
        """
        n = self.n_samples
        id_values = np.arange(n) if ids is None else np.asarray(ids)
        if id_values.ndim != 1 or id_values.shape[0] != n:
            raise invalid_parameter(
                "ids",
                "SampleDynamics.to_csv",
                f"a 1-D array of length N={n}",
                describe_array(id_values),
            )
        more = {name: np.asarray(values) for name, values in (extras or {}).items()}
        for name, values in more.items():
            if values.shape != (n,) or name == "id" or name in _COLUMN_ORDER:
                raise invalid_parameter(
                    "extras", "SampleDynamics.to_csv", f"new columns of shape ({n},)", name
                )
        available = ["id", *self.columns(), *more]
        names = available if columns is None else list(columns)
        unknown = [name for name in names if name not in available]
        if unknown or not names:
            expected = f"a non-empty list of {tuple(available)}"
            raise invalid_parameter("columns", "SampleDynamics.to_csv", expected, unknown or names)
        known = self.known_label
        cells: list[list[str]] = []
        for name in names:
            if name == "id":
                cells.append([str(v) for v in id_values.tolist()])
                continue
            values = more[name] if name in more else self.column(name)
            if values.dtype == np.bool_:
                text = ["true" if v else "false" for v in values.tolist()]
            elif np.issubdtype(values.dtype, np.floating):
                text = ["" if v != v else repr(v) for v in values.astype(np.float64).tolist()]
            else:
                text = [str(v) for v in values.tolist()]
            if name in LABEL_MEASURES or name == "label":
                text = [t if k else "" for t, k in zip(text, known.tolist(), strict=True)]
            cells.append(text)
        rows = zip(*cells, strict=True)
        if hasattr(path_or_buffer, "write"):
            _write_rows(path_or_buffer, names, rows)  # type: ignore[arg-type]
        else:
            with open(path_or_buffer, "w", newline="", encoding="utf-8") as handle:
                _write_rows(handle, names, rows)


def _write_rows(handle: IO[str], header: list[str], rows: Any) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
