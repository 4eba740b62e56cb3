"""Parsing of loose input (outputs, labels, predictions, overlaps) into canonical arrays.

Every public function of the per-sample dynamics parses its arguments here, so a wrong
input gets the same message whichever measure it was given to.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import Described, describe_array
from reprdynamics.errors import (
    LabelsRequiredError,
    NotEnoughSnapshotsError,
    invalid_parameter,
)

OutputKind = Literal["logits", "probabilities", "features"]


_PREDICTION_KINDS = ("logits", "probabilities")
_ALL_KINDS = ("logits", "probabilities", "features")
# Row sums of stored probabilities may be off by float16 rounding (eps ~ 1e-3, times C terms).
_PROBABILITY_SUM_TOLERANCE = 1e-2


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
            name, owner, f"a real-valued {expected_shape} array of {kind}", describe_array(array)
        )
    if array.shape[-1] < 2:
        raise invalid_parameter(
            name, owner, f"a {expected_shape} array with C >= 2 classes", describe_array(array)
        )
    if array.ndim == 3 and array.shape[0] == 0:
        raise NotEnoughSnapshotsError(f"{owner} needs at least one snapshot; 'outputs' has T=0.")
    values = array.astype(np.float64, copy=False)
    n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if n_bad:
        raise invalid_parameter(
            name, owner, "finite", Described(f"an array with {n_bad} NaN or infinite values")
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
                Described(f"values with minimum {low:.4g} and row sums off by up to {worst:.4g}"),
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
            "labels", owner, "a 1-D array of ints (-1 = unknown)", describe_array(array)
        )
    if n_samples is not None and array.shape[0] != n_samples:
        raise invalid_parameter(
            "labels", owner, f"of length N={n_samples}", Described(f"length {array.shape[0]}")
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
            describe_array(array),
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
            describe_array(array),
        )
    values = array.astype(np.float64, copy=False)
    if values.size and not (
        np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0
    ):
        raise invalid_parameter(
            name,
            owner,
            "finite overlaps in [0, 1]",
            Described(f"values in [{np.nanmin(values)}, {np.nanmax(values)}] or non-finite"),
        )
    return values
