"""Per-sample training dynamics: entropy, cartography, forgetting, AUM and stability.

Every measure summarises, for each sample, how the network's output for it evolved over the
snapshots ``t = 0..T-1`` of a run. Two ways to compute them give the same numbers:

* all at once, from a ``(T, N, C)`` array of outputs (tests and small runs):
  :func:`prediction_entropy`, :func:`cartography`, :func:`forgetting_events`,
  :func:`first_learned`, :func:`area_under_margin`, :func:`neighbour_stability`, and
  :func:`sample_dynamics` for the whole table;
* streaming, one ``(N, C)`` snapshot at a time with :class:`DynamicsAccumulator`, which keeps
  O(N) running state plus the ``(T, N)`` float32 entropy — what the run-level code uses, since
  a ``(T, N, C)`` array of a large run need not fit in memory.

Outputs come in the run's ``kind``: ``"logits"`` (probabilities are their softmax),
``"probabilities"`` (used as given) or ``"features"`` (no prediction measure applies; only
neighbour stability does). Labels are ints, ``-1`` meaning unknown.

Unknown labels (``-1``) give NaN for the float label-based measures (confidence, variability,
correctness, AUM); for the integer and boolean ones they give ``forgetting_events = 0``,
``never_learned = False`` and ``first_learned = -1``, and :meth:`SampleDynamics.to_csv`
writes an empty cell for every label-based column of such a sample. With no labels at all
(``labels=None``) the single-measure functions raise :class:`LabelsRequiredError`, and the
table leaves those measures out.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import IO, Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.errors import (
    LabelsRequiredError,
    NotEnoughSnapshotsError,
    invalid_parameter,
)

__all__ = [
    "LABEL_MEASURES",
    "Cartography",
    "DynamicsAccumulator",
    "Forgetting",
    "OutputKind",
    "SampleDynamics",
    "area_under_margin",
    "cartography",
    "first_learned",
    "forgetting_events",
    "mislabel_ranking",
    "mislabel_scores",
    "neighbour_stability",
    "prediction_entropy",
    "sample_dynamics",
    "softmax",
]

OutputKind = Literal["logits", "probabilities", "features"]

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

_PREDICTION_KINDS = ("logits", "probabilities")
_ALL_KINDS = ("logits", "probabilities", "features")
# Row sums of stored probabilities may be off by float16 rounding (eps ~ 1e-3, times C terms).
_PROBABILITY_SUM_TOLERANCE = 1e-2


class _Described(str):
    """A description shown bare (not quoted) in the 'Got ... instead.' part of an error."""

    def __repr__(self) -> str:
        return str(self)


def _describe(array: np.ndarray) -> _Described:
    return _Described(f"an array of shape {array.shape} and dtype {array.dtype}")


# --------------------------------------------------------------------------------------------
# Parsing of loose input into canonical arrays
# --------------------------------------------------------------------------------------------


def _parse_kind(kind: object, owner: str, *, allow_features: bool = False) -> str:
    allowed = _ALL_KINDS if allow_features else _PREDICTION_KINDS
    if not isinstance(kind, str) or kind not in allowed:
        expected = " or ".join(repr(k) for k in allowed)
        raise invalid_parameter("kind", owner, expected, kind)
    return kind


def _is_real(array: np.ndarray) -> bool:
    return array.dtype != np.bool_ and (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    )


def _parse_outputs(
    outputs: ArrayLike,
    owner: str,
    kind: str,
    *,
    ndims: tuple[int, ...] = (3,),
    name: str = "outputs",
) -> NDArray[np.float64]:
    """Turn logits or probabilities into a finite float64 array with classes on the last axis."""
    array = np.asarray(outputs)
    shape_text = {3: "(T, N, C)", 2: "(N, C)"}
    expected_shape = " or ".join(shape_text[d] for d in ndims)
    if not _is_real(array) or array.ndim not in ndims:
        raise invalid_parameter(
            name, owner, f"a real-valued {expected_shape} array of {kind}", _describe(array)
        )
    if array.shape[-1] < 2:
        raise invalid_parameter(
            name, owner, f"a {expected_shape} array with C >= 2 classes", _describe(array)
        )
    if array.ndim == 3 and array.shape[0] == 0:
        raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; 'outputs' has T=0.")
    values = array.astype(np.float64, copy=False)
    n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if n_bad:
        raise invalid_parameter(
            name, owner, "finite", _Described(f"an array with {n_bad} NaN or infinite values")
        )
    if kind == "probabilities" and values.size:
        low = float(values.min())
        worst = float(np.abs(values.sum(axis=-1) - 1.0).max())
        if low < 0.0 or worst > _PROBABILITY_SUM_TOLERANCE:
            raise invalid_parameter(
                name,
                owner,
                "probabilities (non-negative, summing to 1 over classes) when kind is "
                "'probabilities'",
                _Described(f"values with minimum {low:.4g} and row sums off by up to {worst:.4g}"),
            )
    return values


def _parse_labels(
    labels: ArrayLike | None,
    owner: str,
    n_samples: int | None,
    n_classes: int | None,
) -> NDArray[np.int64]:
    """Labels as int64 (N,), ``-1`` for unknown; raise LabelsRequiredError when absent."""
    if labels is None:
        raise LabelsRequiredError(
            f"{owner} needs labels (the gold class of each sample) and none were given. "
            "Pass 'labels' as ints, -1 meaning unknown."
        )
    array = np.asarray(labels)
    if array.size == 0 and array.ndim == 1:
        array = array.astype(np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer) or array.ndim != 1:
        raise invalid_parameter(
            "labels", owner, "a 1-D array of ints (-1 = unknown)", _describe(array)
        )
    if n_samples is not None and array.shape[0] != n_samples:
        raise invalid_parameter(
            "labels", owner, f"of length N={n_samples}", _Described(f"length {array.shape[0]}")
        )
    array = array.astype(np.int64, copy=False)
    if array.size:
        low, high = int(array.min()), int(array.max())
        top = n_classes - 1 if n_classes is not None else None
        if low < -1:
            expected = f"ints in [-1, {top}]" if top is not None else "ints >= -1"
            raise invalid_parameter("labels", owner, f"{expected} (-1 = unknown)", low)
        if top is not None and high > top:
            raise invalid_parameter("labels", owner, f"ints in [-1, {top}] (-1 = unknown)", high)
    return array


def _parse_predictions(predictions: ArrayLike, owner: str) -> tuple[NDArray[np.int64], int | None]:
    """Predicted classes (T, N) from predictions (T, N) ints or outputs (T, N, C)."""
    array = np.asarray(predictions)
    if array.ndim == 3 and _is_real(array):
        # argmax is the same on logits and on their softmax, so the kind does not matter here.
        values = _parse_outputs(array, owner, "logits", name="predictions")
        return np.argmax(values, axis=-1).astype(np.int64), values.shape[-1]
    if array.ndim != 2 or array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise invalid_parameter(
            "predictions",
            owner,
            "a (T, N) int array of predicted classes or a (T, N, C) array of outputs",
            _describe(array),
        )
    if array.shape[0] == 0:
        raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; got T=0.")
    if array.size and int(array.min()) < 0:
        raise invalid_parameter("predictions", owner, "class indices >= 0", int(array.min()))
    return array.astype(np.int64, copy=False), None


def _parse_overlaps(
    overlaps: ArrayLike, owner: str, *, ndim: int, name: str = "overlaps"
) -> NDArray[np.float64]:
    array = np.asarray(overlaps)
    expected_shape = "(T-1, N)" if ndim == 2 else "(N,)"
    if not _is_real(array) or array.ndim != ndim:
        raise invalid_parameter(
            name,
            owner,
            f"a real-valued {expected_shape} array of neighbour overlaps",
            _describe(array),
        )
    values = array.astype(np.float64, copy=False)
    if values.size and not (
        np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0
    ):
        raise invalid_parameter(
            name,
            owner,
            "finite overlaps in [0, 1]",
            _Described(f"values in [{np.nanmin(values)}, {np.nanmax(values)}] or non-finite"),
        )
    return values


# --------------------------------------------------------------------------------------------
# Kernels: operate on any leading shape, classes on the last axis, no validation
# --------------------------------------------------------------------------------------------


def _softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def _entropy_kernel(values: NDArray[np.float64], kind: str) -> NDArray[np.float64]:
    n_classes = values.shape[-1]
    if kind == "logits":
        # H = log Σ e^s − Σ p s with s = z − max z: exact and never evaluates log 0.
        shifted = values - values.max(axis=-1, keepdims=True)
        weights = np.exp(shifted)
        total = weights.sum(axis=-1)
        entropy = np.log(total) - (weights * shifted).sum(axis=-1) / total
    else:
        log_p = np.zeros_like(values)
        np.log(values, out=log_p, where=values > 0.0)  # 0 · log 0 = 0
        entropy = -(values * log_p).sum(axis=-1)
    return np.clip(entropy, 0.0, np.log(n_classes))


@dataclass(frozen=True, eq=False)
class _LabelStats:
    prediction: NDArray[np.int64]
    gold_probability: NDArray[np.float64]  # NaN where the label is unknown
    margin: NDArray[np.float64]  # NaN where the label is unknown
    correct: NDArray[np.bool_]  # False where the label is unknown


def _label_kernel(values: NDArray[np.float64], kind: str, labels: NDArray[np.int64]) -> _LabelStats:
    """Gold probability, logit margin and correctness; ``labels`` broadcast over leading axes."""
    known = labels >= 0
    gold = np.broadcast_to(np.where(known, labels, 0)[:, None], (*values.shape[:-1], 1))
    prediction = np.argmax(values, axis=-1)
    if kind == "logits":
        probabilities = _softmax(values)
        scores = values
    else:
        probabilities = values
        # log p differs from the logits by a per-sample constant (log Σ e^z), so margins on
        # log p equal margins on the logits that produced p. p = 0 is clipped to the smallest
        # positive float to keep the margin finite.
        scores = np.log(np.maximum(values, np.finfo(np.float64).tiny))
    gold_probability = np.take_along_axis(probabilities, gold, axis=-1)[..., 0]
    gold_score = np.take_along_axis(scores, gold, axis=-1)[..., 0]
    others = scores.copy()
    np.put_along_axis(others, gold, -np.inf, axis=-1)
    margin = gold_score - others.max(axis=-1)
    unknown = ~np.broadcast_to(known, prediction.shape)
    gold_probability[unknown] = np.nan
    margin[unknown] = np.nan
    correct = (prediction == gold[..., 0]) & ~unknown
    return _LabelStats(prediction.astype(np.int64), gold_probability, margin, correct)


def _correctness_fraction(
    correct_count: NDArray[np.int64], n_snapshots: int, known: NDArray[np.bool_]
) -> NDArray[np.float64]:
    fraction = correct_count / float(n_snapshots)
    return np.where(known, fraction, np.nan)


def _forgetting_from_correct(correct: NDArray[np.bool_]) -> NDArray[np.int64]:
    return (correct[:-1] & ~correct[1:]).sum(axis=0).astype(np.int64)


def _first_learned_from_correct(correct: NDArray[np.bool_]) -> NDArray[np.int64]:
    n_snapshots = correct.shape[0]
    incorrect = ~correct
    last_incorrect = n_snapshots - 1 - np.argmax(incorrect[::-1], axis=0)
    first = np.where(incorrect.any(axis=0), last_incorrect + 1, 0)
    # Incorrect at the last snapshot: the sample never settles.
    return np.where(first == n_snapshots, -1, first).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Cartography:
    """Dataset-cartography coordinates of each sample (Swayamdipta et al. 2020).

    Attributes
    ----------
    confidence : ndarray of shape (N,)
        ``mean_t p_t(gold)``; NaN where the label is unknown.
    variability : ndarray of shape (N,)
        Population standard deviation (ddof=0) of ``p_t(gold)`` over snapshots; in [0, 0.5].
    correctness : ndarray of shape (N,)
        Fraction of snapshots with ``ŷ_t = gold``.
    """

    confidence: NDArray[np.float64]
    variability: NDArray[np.float64]
    correctness: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Forgetting:
    """Forgetting events of each sample (Toneva et al. 2019).

    Attributes
    ----------
    events : ndarray of int64, shape (N,)
        Number of correct → incorrect transitions between consecutive snapshots; 0 where the
        label is unknown.
    never_learned : ndarray of bool, shape (N,)
        True for samples (with a known label) that are correct at no snapshot. Toneva et al.
        count these as forgotten infinitely often; here the count stays 0 and this flag says so.
    """

    events: NDArray[np.int64]
    never_learned: NDArray[np.bool_]


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
            raise invalid_parameter("positions", "SampleDynamics.take", expected, _describe(rows))
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
                "ids", "SampleDynamics.to_csv", f"a 1-D array of length N={n}", _describe(id_values)
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


# --------------------------------------------------------------------------------------------
# All-at-once measures
# --------------------------------------------------------------------------------------------


def softmax(logits: ArrayLike) -> NDArray[np.float64]:
    """Numerically stable softmax over the last axis: ``p_c = e^{z_c − max z} / Σ e^{z − max z}``.

    Examples
    --------
    >>> softmax([[0.0, 0.0]]).tolist()
    [[0.5, 0.5]]
    """
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim == 0:
        expected = "an array with classes on the last axis"
        raise invalid_parameter("logits", "softmax", expected, values)
    return _softmax(values.copy())


def prediction_entropy(
    outputs: ArrayLike, *, kind: Literal["logits", "probabilities"] = "logits"
) -> NDArray[np.float64]:
    """Entropy of the predicted class distribution of every sample at every snapshot.

    ``H_t(i) = −Σ_c p_t(c|i) log p_t(c|i)`` (natural log, ``0 · log 0 = 0``), with
    ``p = softmax(z)`` for logits (computed stably as ``log Σ e^s − Σ p s``, ``s = z − max z``)
    and ``p`` as given for probabilities. This is the original ReprDynamics' "confidence"
    axis. Values lie in ``[0, log C]``.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C) or (N, C)
        Logits or probabilities.
    kind : {"logits", "probabilities"}

    Returns
    -------
    ndarray of float64, shape (T, N) or (N,)

    Examples
    --------
    >>> prediction_entropy([[[0.0, 0.0], [50.0, 0.0]]]).round(4).tolist()
    [[0.6931, 0.0]]
    """
    kind = _parse_kind(kind, "prediction_entropy")
    values = _parse_outputs(outputs, "prediction_entropy", kind, ndims=(3, 2))
    return _entropy_kernel(values, kind)


def cartography(
    outputs: ArrayLike,
    labels: ArrayLike | None,
    *,
    kind: Literal["logits", "probabilities"] = "logits",
) -> Cartography:
    """Dataset-cartography coordinates (Swayamdipta et al. 2020, "Dataset Cartography").

    With ``p_t(gold)`` the probability of the gold class at snapshot t:

    * confidence ``μ_i = (1/T) Σ_t p_t(gold_i)``;
    * variability ``σ_i = sqrt((1/T) Σ_t (p_t(gold_i) − μ_i)^2)`` (population std, ddof=0);
    * correctness ``= (1/T) #{t : ŷ_t(i) = gold_i}``, ``ŷ = argmax`` (ties → smallest index).

    Samples with label ``-1`` get NaN in all three.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C)
    labels : array-like of int, shape (N,)
    kind : {"logits", "probabilities"}

    Raises
    ------
    LabelsRequiredError
        If ``labels`` is None.

    Examples
    --------
    >>> c = cartography([[[2.0, 0.0]], [[0.0, 2.0]]], [0])
    >>> round(float(c.confidence[0]), 6), float(c.correctness[0])
    (0.5, 0.5)
    """
    kind = _parse_kind(kind, "cartography")
    values = _parse_outputs(outputs, "cartography", kind)
    labels_ = _parse_labels(labels, "cartography", values.shape[1], values.shape[2])
    stats = _label_kernel(values, kind, labels_)
    known = labels_ >= 0
    return Cartography(
        confidence=stats.gold_probability.mean(axis=0),
        variability=stats.gold_probability.std(axis=0),
        correctness=_correctness_fraction(stats.correct.sum(axis=0), values.shape[0], known),
    )


def forgetting_events(predictions: ArrayLike, labels: ArrayLike | None) -> Forgetting:
    """Forgetting events per sample (Toneva et al. 2019, "An Empirical Study of Example
    Forgetting during Deep Neural Network Learning").

    ``events_i = #{t ∈ [0, T−2] : ŷ_t(i) = gold_i and ŷ_{t+1}(i) ≠ gold_i}``; a sample with a
    known label that is correct at no snapshot is flagged ``never_learned`` (its count stays 0,
    where Toneva et al. would say "forgotten infinitely often"). Unknown labels (-1): 0 events,
    not flagged.

    Parameters
    ----------
    predictions : array-like, shape (T, N) of ints or (T, N, C) of outputs
        Predicted classes per snapshot, or logits/probabilities (argmax is taken).
    labels : array-like of int, shape (N,)

    Examples
    --------
    >>> f = forgetting_events([[0, 1], [1, 1], [0, 1], [1, 1]], [0, 0])
    >>> f.events.tolist(), f.never_learned.tolist()
    ([2, 0], [False, True])
    """
    predicted, n_classes = _parse_predictions(predictions, "forgetting_events")
    labels_ = _parse_labels(labels, "forgetting_events", predicted.shape[1], n_classes)
    known = labels_ >= 0
    correct = (predicted == labels_) & known
    return Forgetting(
        events=_forgetting_from_correct(correct), never_learned=~correct.any(axis=0) & known
    )


def first_learned(predictions: ArrayLike, labels: ArrayLike | None) -> NDArray[np.int64]:
    """First snapshot after which each sample stays correct.

    ``first_learned_i = min{t : ŷ_s(i) = gold_i for every s ≥ t}``, and ``-1`` when the sample
    is wrong at the last snapshot (or its label is unknown). Compare Toneva et al. 2019's
    "learned" samples.

    Parameters
    ----------
    predictions : array-like, shape (T, N) of ints or (T, N, C) of outputs
    labels : array-like of int, shape (N,)

    Examples
    --------
    >>> first_learned([[0, 0, 1], [1, 0, 1], [0, 0, 1]], [0, 0, 0]).tolist()
    [2, 0, -1]
    """
    predicted, n_classes = _parse_predictions(predictions, "first_learned")
    labels_ = _parse_labels(labels, "first_learned", predicted.shape[1], n_classes)
    correct = (predicted == labels_) & (labels_ >= 0)
    return _first_learned_from_correct(correct)


def area_under_margin(
    outputs: ArrayLike,
    labels: ArrayLike | None,
    *,
    kind: Literal["logits", "probabilities"] = "logits",
) -> NDArray[np.float64]:
    """Area under the margin (Pleiss et al. 2020, "Identifying Mislabeled Data using the Area
    Under the Margin Ranking").

    ``AUM_i = (1/T) Σ_t (z_t(gold_i) − max_{c ≠ gold_i} z_t(c))`` on logits ``z``. Positive:
    the model favours the gold class on average; negative: it favours another class, a sign
    of a mislabelled sample.

    For ``kind="probabilities"`` the margin is taken on ``log p``. Since
    ``log softmax(z) = z − log Σ e^z`` differs from ``z`` by a per-sample constant, this equals
    the logit AUM whenever ``p`` is a softmax; probabilities of exactly 0 are clipped to the
    smallest positive float64 (log ≈ −708).

    Parameters
    ----------
    outputs : array-like of shape (T, N, C)
    labels : array-like of int, shape (N,)
    kind : {"logits", "probabilities"}

    Returns
    -------
    ndarray of float64, shape (N,)
        NaN where the label is unknown.

    Examples
    --------
    >>> area_under_margin([[[3.0, 1.0]], [[0.0, 1.0]]], [0]).tolist()
    [0.5]
    """
    kind = _parse_kind(kind, "area_under_margin")
    values = _parse_outputs(outputs, "area_under_margin", kind)
    labels_ = _parse_labels(labels, "area_under_margin", values.shape[1], values.shape[2])
    return _label_kernel(values, kind, labels_).margin.mean(axis=0)


def neighbour_stability(overlaps: ArrayLike) -> NDArray[np.float64]:
    """Mean neighbour overlap of each sample over the snapshot transitions.

    ``stability_i = (1/(T−1)) Σ_{t=0}^{T−2} o_t(i)`` with
    ``o_t(i) = |N_k(i,t) ∩ N_k(i,t+1)| / k`` (DESIGN §2, computed by the neighbour analysis).
    1 means the sample kept its neighbourhood throughout; with no transition (T = 1) it is NaN.

    Parameters
    ----------
    overlaps : array-like of shape (T−1, N), values in [0, 1]

    Examples
    --------
    >>> neighbour_stability([[1.0, 0.0], [0.5, 0.0]]).tolist()
    [0.75, 0.0]
    """
    values = _parse_overlaps(overlaps, "neighbour_stability", ndim=2)
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    return values.mean(axis=0)


def sample_dynamics(
    outputs: ArrayLike | None,
    labels: ArrayLike | None = None,
    *,
    kind: OutputKind = "logits",
    overlaps: ArrayLike | None = None,
) -> SampleDynamics:
    """Every per-sample measure at once, as a :class:`SampleDynamics` table.

    Without labels, only the label-free measures (entropy, prediction, neighbour stability)
    are filled. For ``kind="features"`` no prediction measure applies: ``outputs`` (T, N, D)
    only gives T and N and may be None when ``overlaps`` is given (then T = len(overlaps) + 1).
    :class:`DynamicsAccumulator` computes the same table one snapshot at a time.

    Parameters
    ----------
    outputs : array-like of shape (T, N, C), or None for kind "features"
    labels : array-like of int, shape (N,), optional
        ``-1`` = unknown.
    kind : {"logits", "probabilities", "features"}
    overlaps : array-like of shape (T−1, N), optional
        Neighbour overlaps between consecutive snapshots.

    Examples
    --------
    >>> table = sample_dynamics([[[2.0, 0.0]], [[0.0, 2.0]]], [0])
    >>> table.columns()[:4], table.forgetting_events.tolist()
    (['label', 'prediction', 'entropy_first', 'entropy_last'], [1])
    """
    owner = "sample_dynamics"
    kind = _parse_kind(kind, owner, allow_features=True)  # type: ignore[assignment]
    stability = None
    if overlaps is not None:
        overlap_values = _parse_overlaps(overlaps, owner, ndim=2)
    if kind == "features":
        if outputs is None:
            if overlaps is None:
                raise invalid_parameter(
                    "outputs", owner, "an array (or 'overlaps' given) for kind 'features'", None
                )
            n_snapshots, n_samples = overlap_values.shape[0] + 1, overlap_values.shape[1]
        else:
            shape = np.shape(outputs)
            if len(shape) != 3:
                raise invalid_parameter(
                    "outputs", owner, "a (T, N, D) array", _describe(np.asarray(outputs))
                )
            n_snapshots, n_samples = shape[0], shape[1]
        if n_snapshots == 0:
            raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; got T=0.")
        labels_ = None if labels is None else _parse_labels(labels, owner, n_samples, None)
    else:
        if outputs is None:
            raise invalid_parameter("outputs", owner, f"a (T, N, C) array of {kind}", None)
        values = _parse_outputs(outputs, owner, kind)
        n_snapshots, n_samples, n_classes = values.shape
        labels_ = None if labels is None else _parse_labels(labels, owner, n_samples, n_classes)
    if overlaps is not None:
        if overlap_values.shape != (n_snapshots - 1, n_samples):
            raise invalid_parameter(
                "overlaps",
                owner,
                f"of shape (T-1, N) = {(n_snapshots - 1, n_samples)}",
                _describe(overlap_values),
            )
        stability = neighbour_stability(overlap_values)
    if kind == "features":
        return SampleDynamics(
            n_snapshots=n_snapshots,
            n_samples=n_samples,
            kind=kind,
            labels=labels_,
            neighbour_stability=stability,
        )

    entropy = _entropy_kernel(values, kind).astype(np.float32)
    prediction = np.argmax(values[-1], axis=-1).astype(np.int64)
    if labels_ is None:
        return SampleDynamics(
            n_snapshots=n_snapshots,
            n_samples=n_samples,
            kind=kind,
            prediction=prediction,
            entropy=entropy,
            neighbour_stability=stability,
        )
    stats = _label_kernel(values, kind, labels_)
    known = labels_ >= 0
    return SampleDynamics(
        n_snapshots=n_snapshots,
        n_samples=n_samples,
        kind=kind,
        labels=labels_,
        prediction=prediction,
        entropy=entropy,
        confidence=stats.gold_probability.mean(axis=0),
        variability=stats.gold_probability.std(axis=0),
        correctness=_correctness_fraction(stats.correct.sum(axis=0), n_snapshots, known),
        forgetting_events=_forgetting_from_correct(stats.correct),
        never_learned=~stats.correct.any(axis=0) & known,
        aum=stats.margin.mean(axis=0),
        first_learned=_first_learned_from_correct(stats.correct),
        neighbour_stability=stability,
    )


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------


class DynamicsAccumulator:
    """Per-sample dynamics computed one snapshot at a time, in bounded memory.

    Feed the snapshots in order with :meth:`update`; :meth:`result` returns the same
    :class:`SampleDynamics` as :func:`sample_dynamics` on the stacked ``(T, N, C)`` array (up
    to floating-point rounding). State: O(N) running sums (Welford mean and squared deviations
    of ``p(gold)``, margin sum, correct count, previous correctness, forgetting count, start of
    the current correct streak, overlap sum) plus the ``(T, N)`` float32 entropy.

    Parameters
    ----------
    labels : array-like of int, shape (N,), optional
        ``-1`` = unknown. Without labels only label-free measures are computed.
    n_classes : int, optional
        C; taken from the first snapshot when omitted.
    kind : {"logits", "probabilities", "features"}, optional
        May instead be given to the first :meth:`update`; default ``"logits"``. Fixed from the
        first update on.

    Examples
    --------
    >>> acc = DynamicsAccumulator([0], 2)
    >>> _ = acc.update([[2.0, 0.0]]).update([[0.0, 2.0]])
    >>> acc.result().forgetting_events.tolist()
    [1]
    """

    def __init__(
        self,
        labels: ArrayLike | None = None,
        n_classes: int | None = None,
        *,
        kind: OutputKind | None = None,
    ) -> None:
        owner = "DynamicsAccumulator"
        if n_classes is not None and (
            isinstance(n_classes, bool)
            or not isinstance(n_classes, int | np.integer)
            or n_classes < 2
        ):
            raise invalid_parameter("n_classes", owner, "an int >= 2 or None", n_classes)
        self.n_classes = None if n_classes is None else int(n_classes)
        self.kind = None if kind is None else _parse_kind(kind, owner, allow_features=True)
        self.labels = None if labels is None else _parse_labels(labels, owner, None, self.n_classes)
        self._n_snapshots = 0
        self._n_samples: int | None = None if self.labels is None else self.labels.shape[0]
        self._entropy: list[NDArray[np.float32]] = []
        self._prediction: NDArray[np.int64] | None = None
        self._gold_mean: NDArray[np.float64] | None = None
        self._gold_m2: NDArray[np.float64] | None = None
        self._margin_sum: NDArray[np.float64] | None = None
        self._correct_count: NDArray[np.int64] | None = None
        self._previous_correct: NDArray[np.bool_] | None = None
        self._ever_correct: NDArray[np.bool_] | None = None
        self._forgetting: NDArray[np.int64] | None = None
        self._streak_start: NDArray[np.int64] | None = None
        self._overlap_sum: NDArray[np.float64] | None = None
        self._n_overlaps = 0

    @property
    def n_snapshots(self) -> int:
        """Number of snapshots fed so far."""
        return self._n_snapshots

    def _check_n_samples(self, n: int, name: str, owner: str) -> None:
        if self._n_samples is None:
            self._n_samples = n
        elif n != self._n_samples:
            raise invalid_parameter(
                name, owner, f"about N={self._n_samples} samples", _Described(f"{n} samples")
            )

    def update(
        self,
        outputs: ArrayLike | None,
        *,
        kind: OutputKind | None = None,
        overlap: ArrayLike | None = None,
    ) -> Self:
        """Add the next snapshot.

        Parameters
        ----------
        outputs : array-like of shape (N, C)
            Logits or probabilities of snapshot t. Ignored (may be None) for kind "features".
        kind : {"logits", "probabilities", "features"}, optional
            Must match the accumulator's kind when it is already fixed.
        overlap : array-like of shape (N,), optional
            Neighbour overlap ``o_{t−1}`` of the transition from the previous snapshot to this
            one (so not on the first snapshot). Give it for every transition or for none, here
            or through :meth:`add_overlap`.

        Returns
        -------
        self
        """
        owner = "DynamicsAccumulator.update"
        if kind is not None:
            kind = _parse_kind(kind, owner, allow_features=True)  # type: ignore[assignment]
            if self.kind is not None and kind != self.kind:
                expected = f"{self.kind!r} like earlier snapshots"
                raise invalid_parameter("kind", owner, expected, kind)
        resolved = self.kind or kind or "logits"
        if overlap is not None and self._n_snapshots == 0:
            raise invalid_parameter(
                "overlap",
                owner,
                "None for the first snapshot (no transition yet)",
                _Described("an array"),
            )
        if resolved != "features":
            if outputs is None:
                raise invalid_parameter("outputs", owner, f"an (N, C) array of {resolved}", None)
            values = _parse_outputs(outputs, owner, resolved, ndims=(2,))
            n_samples, n_classes = values.shape
            if self.n_classes is not None and n_classes != self.n_classes:
                raise invalid_parameter(
                    "outputs", owner, f"of C={self.n_classes} classes", _describe(values)
                )
            self._check_n_samples(n_samples, "outputs", owner)
            if self.n_classes is None and self.labels is not None:
                _parse_labels(self.labels, owner, n_samples, n_classes)
        overlap_values = (
            None if overlap is None else _parse_overlaps(overlap, owner, ndim=1, name="overlap")
        )
        if overlap_values is not None:
            self._check_n_samples(overlap_values.shape[0], "overlap", owner)

        # Everything is validated: now change state.
        self.kind = resolved
        if resolved != "features":
            self.n_classes = n_classes
            self._accumulate_outputs(values)
        self._n_snapshots += 1
        if overlap_values is not None:
            self._accumulate_overlap(overlap_values)
        return self

    def add_overlap(self, overlap: ArrayLike) -> Self:
        """Add the neighbour overlap ``o_t`` (N,) of the next transition ``t → t+1``.

        An alternative to ``update(..., overlap=...)`` when overlaps arrive separately.
        """
        owner = "DynamicsAccumulator.add_overlap"
        values = _parse_overlaps(overlap, owner, ndim=1, name="overlap")
        self._check_n_samples(values.shape[0], "overlap", owner)
        self._accumulate_overlap(values)
        return self

    def _accumulate_overlap(self, values: NDArray[np.float64]) -> None:
        if self._overlap_sum is None:
            self._overlap_sum = np.zeros(values.shape[0])
        self._overlap_sum += values
        self._n_overlaps += 1

    def _accumulate_outputs(self, values: NDArray[np.float64]) -> None:
        kind = self.kind
        assert kind is not None
        t = self._n_snapshots
        self._entropy.append(_entropy_kernel(values, kind).astype(np.float32))
        self._prediction = np.argmax(values, axis=-1).astype(np.int64)
        if self.labels is None:
            return
        n = values.shape[0]
        stats = _label_kernel(values, kind, self.labels)
        if t == 0:
            self._gold_mean = np.zeros(n)
            self._gold_m2 = np.zeros(n)
            self._margin_sum = np.zeros(n)
            self._correct_count = np.zeros(n, dtype=np.int64)
            self._previous_correct = np.zeros(n, dtype=bool)
            self._ever_correct = np.zeros(n, dtype=bool)
            self._forgetting = np.zeros(n, dtype=np.int64)
            self._streak_start = np.full(n, -1, dtype=np.int64)
        assert self._gold_mean is not None and self._gold_m2 is not None
        assert self._margin_sum is not None and self._correct_count is not None
        assert self._previous_correct is not None and self._ever_correct is not None
        assert self._forgetting is not None and self._streak_start is not None
        # Welford's update: no cancellation, unlike Σp² − (Σp)²/T.
        delta = stats.gold_probability - self._gold_mean
        self._gold_mean += delta / (t + 1)
        self._gold_m2 += delta * (stats.gold_probability - self._gold_mean)
        self._margin_sum += stats.margin
        correct = stats.correct
        self._correct_count += correct
        if t > 0:
            self._forgetting += self._previous_correct & ~correct
        self._ever_correct |= correct
        started = correct & ~self._previous_correct if t > 0 else correct
        self._streak_start[started] = t
        self._streak_start[~correct] = -1
        self._previous_correct = correct

    def result(self) -> SampleDynamics:
        """The table for the snapshots fed so far (the accumulator can keep going after).

        Raises
        ------
        NotEnoughSnapshotsError
            Before the first :meth:`update`.
        InvalidParameterError
            When overlaps were given for some transitions but not for all ``T − 1``.
        """
        t = self._n_snapshots
        if t == 0:
            raise NotEnoughSnapshotsError("DynamicsAccumulator.result needs at least one snapshot.")
        kind = self.kind or "logits"
        stability = None
        if self._n_overlaps:
            if self._n_overlaps != t - 1:
                raise invalid_parameter(
                    "overlap",
                    "DynamicsAccumulator",
                    f"given for all T-1 = {t - 1} transitions",
                    _Described(f"{self._n_overlaps} overlaps"),
                )
            assert self._overlap_sum is not None
            stability = self._overlap_sum / self._n_overlaps
        labels = None if self.labels is None else self.labels.copy()
        if kind == "features":
            return SampleDynamics(
                n_snapshots=t,
                n_samples=self._n_samples or 0,
                kind=kind,
                labels=labels,
                neighbour_stability=stability,
            )
        entropy = np.stack(self._entropy)
        assert self._prediction is not None
        prediction = self._prediction.copy()
        if labels is None:
            return SampleDynamics(
                n_snapshots=t,
                n_samples=self._n_samples or 0,
                kind=kind,
                prediction=prediction,
                entropy=entropy,
                neighbour_stability=stability,
            )
        assert self._gold_mean is not None and self._gold_m2 is not None
        assert self._margin_sum is not None and self._correct_count is not None
        assert self._ever_correct is not None and self._forgetting is not None
        assert self._streak_start is not None
        known = labels >= 0
        return SampleDynamics(
            n_snapshots=t,
            n_samples=self._n_samples or 0,
            kind=kind,
            labels=labels,
            prediction=prediction,
            entropy=entropy,
            confidence=self._gold_mean.copy(),
            variability=np.sqrt(self._gold_m2 / t),
            correctness=_correctness_fraction(self._correct_count, t, known),
            forgetting_events=self._forgetting.copy(),
            never_learned=~self._ever_correct & known,
            aum=self._margin_sum / t,
            first_learned=self._streak_start.copy(),
            neighbour_stability=stability,
        )


# --------------------------------------------------------------------------------------------
# Mislabel detection
# --------------------------------------------------------------------------------------------


def _aum_of(source: SampleDynamics | ArrayLike, owner: str) -> NDArray[np.float64]:
    if isinstance(source, SampleDynamics):
        if source.aum is None:
            raise LabelsRequiredError(
                f"{owner} needs the AUM, which needs labels and logits or probabilities; "
                "this table has none."
            )
        return source.aum
    values = np.asarray(source)
    if not _is_real(values) or values.ndim != 1:
        raise invalid_parameter(
            "aum", owner, "a 1-D real array or a SampleDynamics", _describe(values)
        )
    values = values.astype(np.float64, copy=False)
    if np.isinf(values).any():
        raise invalid_parameter("aum", owner, "finite or NaN (unknown label) values", values)
    return values


def mislabel_scores(source: SampleDynamics | ArrayLike) -> NDArray[np.float64]:
    """Suspicion that each sample is mislabelled: ``score_i = −AUM_i`` (higher = more suspect).

    Following Pleiss et al. 2020, a mislabelled sample's gold logit keeps losing to the class
    the rest of the data teaches the network, so its area under the margin is low (negative).
    NaN (unknown label) stays NaN.

    Parameters
    ----------
    source : SampleDynamics or array-like of shape (N,)
        A table with ``aum``, or the AUM values themselves.

    Examples
    --------
    >>> mislabel_scores([1.5, -2.0]).tolist()
    [-1.5, 2.0]
    """
    return -_aum_of(source, "mislabel_scores")


def mislabel_ranking(
    source: SampleDynamics | ArrayLike, *, top_k: int | None = None
) -> NDArray[np.int64]:
    """Sample indices from most to least suspected of being mislabelled (ascending AUM).

    Ties keep the smaller index first; samples with unknown labels (NaN AUM) come last.
    Pleiss et al. 2020 threshold the AUM with deliberately mislabelled "threshold samples";
    this ranking is the threshold-free part (inspect the top, or cut at AUM < 0).

    Parameters
    ----------
    source : SampleDynamics or array-like of shape (N,)
    top_k : int, optional
        Return only the first ``top_k`` indices.

    Examples
    --------
    >>> mislabel_ranking([0.5, -1.0, float("nan"), -1.0]).tolist()
    [1, 3, 0, 2]
    """
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0
    ):
        raise invalid_parameter("top_k", "mislabel_ranking", "an int >= 0 or None", top_k)
    aum = _aum_of(source, "mislabel_ranking")
    # Stable sort of AUM ascending (= score descending); NaN sorts last in NumPy.
    order = np.argsort(aum, kind="stable").astype(np.int64)
    return order if top_k is None else order[: int(top_k)]
