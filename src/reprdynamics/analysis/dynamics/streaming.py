"""Per-sample dynamics one snapshot at a time, in O(N) memory besides the entropy."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reprdynamics.analysis._described import Described, describe_array
from reprdynamics.analysis.dynamics._kernels import (
    _correctness_fraction,
    _entropy_kernel,
    _label_kernel,
)
from reprdynamics.analysis.dynamics._parsing import (
    OutputKind,
    _parse_kind,
    _parse_labels,
    _parse_outputs,
    _parse_overlaps,
)
from reprdynamics.analysis.dynamics.table import SampleDynamics
from reprdynamics.errors import NotEnoughSnapshotsError, invalid_parameter
from reprdynamics.validation import Integer, OrNone, check


class DynamicsAccumulator:
    """Per-sample dynamics computed one snapshot at a time, in bounded memory.

    Feed the snapshots in order with :meth:`update`; :meth:`result` returns the same
    :class:`SampleDynamics` as :func:`dynamics_from_outputs` on the stacked ``(T, N, C)`` array (up
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
        self.n_classes = check(n_classes, OrNone(Integer(low=2)), "n_classes", owner)
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
                name, owner, f"about N={self._n_samples} samples", Described(f"{n} samples")
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
                Described("an array"),
            )
        if resolved != "features":
            if outputs is None:
                raise invalid_parameter("outputs", owner, f"an (N, C) array of {resolved}", None)
            values = _parse_outputs(outputs, owner, resolved, ndims=(2,))
            n_samples, n_classes = values.shape
            if self.n_classes is not None and n_classes != self.n_classes:
                raise invalid_parameter(
                    "outputs", owner, f"of C={self.n_classes} classes", describe_array(values)
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
                    Described(f"{self._n_overlaps} overlaps"),
                )
            assert self._overlap_sum is not None
            stability = self._overlap_sum / self._n_overlaps
        labels = None if self.labels is None else self.labels.copy()
        common: dict[str, Any] = {
            "n_snapshots": t,
            "n_samples": self._n_samples or 0,
            "kind": kind,
            "neighbour_stability": stability,
        }
        if kind == "features":
            return SampleDynamics(**common, labels=labels)
        entropy = np.stack(self._entropy)
        assert self._prediction is not None
        prediction = self._prediction.copy()
        if labels is None:
            return SampleDynamics(**common, prediction=prediction, entropy=entropy)
        assert self._gold_mean is not None and self._gold_m2 is not None
        assert self._margin_sum is not None and self._correct_count is not None
        assert self._ever_correct is not None and self._forgetting is not None
        assert self._streak_start is not None
        known = labels >= 0
        return SampleDynamics(
            **common,
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
        )
