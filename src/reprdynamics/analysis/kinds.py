"""The fingerprint kinds: one frozen spec per kind, the one table everything reads.

:func:`reprdynamics.fingerprint`, the dashboard's server (its parameter checks, its OpenAPI
enum, the run overview it sends the browser: labels, which controls apply), the command
line (``--kind``) and the report all take the kinds from :data:`KINDS`. A new kind is its
pure function (in ``fingerprints.py``, ``similarity.py`` or a module of its own) and one
:class:`FingerprintKind` registered here.

Each spec says what the kind reads (``needs``): the neighbour stack of a layer (``k``,
``metric`` and ``backend`` apply), the stored predictions (the output layer; runs of
features have none), or a layer's representations. :func:`fingerprint` prepares that
input once, checks what the spec declares, caches the result, and calls ``compute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from reprdynamics.analysis.fingerprints import (
    class_transition_fingerprint_from_matrices,
    class_transition_matrix,
    neighbour_state_fingerprint,
    neighbour_transition_fingerprint_from_counts,
    prediction_disagreement,
)
from reprdynamics.analysis.reads import LazySnapshots, Progress, n_classes, n_classes_bound, report
from reprdynamics.analysis.similarity import cka_fingerprint
from reprdynamics.analysis.stacks import NeighbourStack, lazy_rows
from reprdynamics.errors import InvalidParameterError, invalid_parameter
from reprdynamics.storage.run import Run

__all__ = [
    "KINDS",
    "FingerprintInputs",
    "FingerprintKind",
    "applicable_kinds",
    "get_kind",
    "require_predictions",
]

Needs = Literal["neighbours", "predictions", "representations"]

#: Memory for the snapshots CKA holds at once (flat in T; see docs/scale.md).
CKA_BLOCK_BYTES = 32 * 2**20


@dataclass
class FingerprintInputs:
    """What :func:`fingerprint` prepared for a kind's ``compute``.

    ``snapshots`` are the complete snapshots used, ``subset`` the selected ids (None: all
    samples), ``stack`` the neighbour stack (kinds that need neighbours), ``options`` the
    kind's own parameters (e.g. ``debiased``) by name.
    """

    run: Run
    layer: str
    snapshots: np.ndarray
    ids: np.ndarray
    subset: np.ndarray | None
    progress: Progress | None = None
    k: int | None = None
    stack: NeighbourStack | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FingerprintKind:
    """One kind of training fingerprint.

    Attributes
    ----------
    name : str
        Its name (``kind=``), e.g. ``"neighbour-transition"``.
    label : str
        What the dashboard and the report call it.
    rows : {"transition", "snapshot"}
        Whether its rows (and columns) are transitions ``t → t+1`` or snapshots.
    needs : {"neighbours", "predictions", "representations"}
        What it reads.
    compute : callable
        ``compute(inputs: FingerprintInputs) -> dict`` of arrays, ``"matrix"`` among them
        (the others are cached with it).
    options : mapping
        The kind's own parameters and their defaults, e.g. ``{"debiased": False}``.
    aliases : tuple of str
        Other names ``kind=`` accepts.
    summary : str
        One line: what a cell of the matrix is.
    title : str
        The report's heading for it.
    reading : (str, str)
        For the report's one-line reading: what differs where the matrix is largest, and
        what its entries are called ("neighbourhoods differ most", "1 − Jaccard").
    """

    name: str
    label: str
    rows: Literal["transition", "snapshot"]
    needs: Needs
    compute: Callable[[FingerprintInputs], dict[str, np.ndarray]]
    options: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    summary: str = ""
    title: str = ""
    reading: tuple[str, str] = ("rows differ most", "D")

    @property
    def transition(self) -> bool:
        """Rows are transitions ``t → t+1``."""
        return self.rows == "transition"

    @property
    def uses_k(self) -> bool:
        """``k`` (and the neighbour search's ``metric`` and ``backend``) apply."""
        return self.needs == "neighbours"

    @property
    def uses_layer(self) -> bool:
        """``layer`` applies (prediction kinds always read the output layer)."""
        return self.needs != "predictions"

    def applies_to(self, run: Run) -> bool:
        """Whether the run can have this fingerprint (runs of features have no predictions)."""
        return not (self.needs == "predictions" and run.kind == "features")

    def require_applicable(self, run: Run) -> None:
        """Refuse ``run`` when it cannot have this fingerprint (the error names ``kind``
        and the kinds the run can have)."""
        if not self.applies_to(run):
            others = ", ".join(spec.name for spec in applicable_kinds(run))
            raise InvalidParameterError(
                f"The {self.name!r} fingerprint compares predictions, but the run records "
                f"features (kind='features'), which have no predictions; its fingerprints are "
                f"{others}.",
                parameter="kind",
            )

    def describe(self) -> dict[str, Any]:
        """The spec as JSON (what the dashboard's run overview sends)."""
        return {
            "name": self.name,
            "label": self.label,
            "rows": self.rows,
            "uses_k": self.uses_k,
            "uses_layer": self.uses_layer,
            "options": dict(self.options),
            "summary": self.summary,
        }


def require_predictions(run: Run, what: str) -> None:
    """Refuse a run of features (it has no predictions) for ``what``, which compares them."""
    if run.kind == "features":
        raise InvalidParameterError(
            f"{what} compares predictions, but the run records features (kind='features'), "
            f"which have no predictions."
        )


# ------------------------------------------------------------------------ the kinds
def _neighbour_transition(inputs: FingerprintInputs) -> dict[str, np.ndarray]:
    assert inputs.stack is not None and inputs.k is not None
    # Integer counts (one byte per sample and transition), not float64 overlaps: the
    # memory that grows with T stays small. Same numbers, bit for bit.
    counts = inputs.stack.overlap_counts()
    overlaps = np.empty(counts.shape, dtype=np.float32)
    for t in range(counts.shape[0]):
        overlaps[t] = counts[t].astype(np.float64) / inputs.k
    return {
        "matrix": neighbour_transition_fingerprint_from_counts(counts, inputs.k),
        "overlaps": overlaps,
    }


def _neighbour_state(inputs: FingerprintInputs) -> dict[str, np.ndarray]:
    assert inputs.stack is not None
    return {"matrix": neighbour_state_fingerprint(lazy_rows(inputs.stack))}


def _class_transition(inputs: FingerprintInputs) -> dict[str, np.ndarray]:
    run, snaps, subset = inputs.run, inputs.snapshots, inputs.subset
    classes = n_classes(run)
    deltas = np.empty((snaps.size - 1, classes, classes), dtype=np.int64)
    previous = run.predictions(int(snaps[0]), subset)
    for pos in range(1, snaps.size):
        current = run.predictions(int(snaps[pos]), subset)
        deltas[pos - 1] = class_transition_matrix(previous, current, classes)
        previous = current
        report(inputs.progress, pos, snaps.size - 1, "class transitions")
    return {"matrix": class_transition_fingerprint_from_matrices(deltas), "deltas": deltas}


def _disagreement(inputs: FingerprintInputs) -> dict[str, np.ndarray]:
    run, snaps, subset = inputs.run, inputs.snapshots, inputs.subset
    # The smallest integer type that holds the classes: the only O(T n) array here.
    n_rows = run.n_samples if subset is None else subset.size
    dtype = np.int16 if n_classes_bound(run) < 2**15 else np.int64
    preds = np.empty((snaps.size, n_rows), dtype=dtype)
    for pos, t in enumerate(snaps):
        preds[pos] = run.predictions(int(t), subset)
    return {"matrix": prediction_disagreement(preds)}


def _cka(inputs: FingerprintInputs) -> dict[str, np.ndarray]:
    run, layer = inputs.run, inputs.layer
    lazy = LazySnapshots(run, layer, inputs.snapshots, inputs.subset, inputs.progress)
    # A budget that does not grow with T: 32 MiB of snapshots, or 4 of a wide layer (each
    # extra block re-reads the remaining snapshots once).
    width = inputs.ids.size * run.layer_dim(layer) * 8
    budget = max(CKA_BLOCK_BYTES, 5 * width)
    debiased = bool(inputs.options.get("debiased", False))
    return {"matrix": cka_fingerprint(lazy, debiased=debiased, max_bytes=budget)}


#: Every kind, by name, in display order.
KINDS: dict[str, FingerprintKind] = {
    spec.name: spec
    for spec in (
        FingerprintKind(
            "neighbour-transition",
            "neighbour transition",
            "transition",
            "neighbours",
            _neighbour_transition,
            aliases=("neighbor-transition",),
            summary="RMS difference of per-sample neighbour overlap between two transitions",
            title="Neighbour-transition fingerprint (per-sample change of neighbourhoods)",
            reading=("neighbourhoods changed most differently", "D"),
        ),
        FingerprintKind(
            "neighbour-state",
            "neighbour state",
            "snapshot",
            "neighbours",
            _neighbour_state,
            aliases=("neighbor-state",),
            summary="1 - mean Jaccard similarity of each sample's k neighbours at two snapshots",
            title="Neighbour-state fingerprint (1 − Jaccard of neighbourhoods)",
            reading=("neighbourhoods differ most", "1 − Jaccard"),
        ),
        FingerprintKind(
            "class-transition",
            "class transition (NNTF)",
            "transition",
            "predictions",
            _class_transition,
            aliases=("nntf",),
            summary="normalised L1 distance of the off-diagonal class-transition counts",
            title="Class-transition fingerprint (NNTF)",
            reading=("class transitions differ most", "D"),
        ),
        FingerprintKind(
            "disagreement",
            "prediction disagreement",
            "snapshot",
            "predictions",
            _disagreement,
            aliases=("prediction-disagreement",),
            summary="share of samples whose predictions differ between two snapshots",
            title="Prediction disagreement",
            reading=("predictions differ most", "disagreement"),
        ),
        FingerprintKind(
            "cka",
            "1 − CKA",
            "snapshot",
            "representations",
            _cka,
            options={"debiased": False},
            aliases=("1-cka", "representation"),
            summary="1 - linear CKA between the representations of two snapshots",
            title="Representation similarity (1 − linear CKA)",
            reading=("representations differ most", "1 − CKA"),
        ),
    )
}
_ALIASES = {alias: spec.name for spec in KINDS.values() for alias in spec.aliases}


def get_kind(kind: Any, owner: str = "fingerprint") -> FingerprintKind:
    """The spec of ``kind``: a name or an alias, any case, ``_`` or ``-``."""
    if isinstance(kind, FingerprintKind):
        return kind
    if isinstance(kind, str):
        key = kind.lower().replace("_", "-")
        spec = KINDS.get(_ALIASES.get(key, key))
        if spec is not None:
            return spec
    raise invalid_parameter("kind", owner, f"one of {list(KINDS)}", kind)


def applicable_kinds(run: Run) -> list[FingerprintKind]:
    """The kinds ``run`` can have, in display order."""
    return [spec for spec in KINDS.values() if spec.applies_to(run)]
