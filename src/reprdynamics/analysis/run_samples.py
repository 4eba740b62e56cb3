"""A run's per-sample dynamics as a table (cartography, forgetting, AUM, neighbour stability)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reprdynamics.analysis.dynamics import DynamicsAccumulator, SampleDynamics
from reprdynamics.analysis.reads import Progress, report
from reprdynamics.analysis.run_inputs import as_run, complete_snapshots, parse_k, parse_samples
from reprdynamics.analysis.run_neighbours import neighbours
from reprdynamics.errors import (
    InvalidParameterError,
)
from reprdynamics.storage.run import Run


# --------------------------------------------------------------------------- per-sample
@dataclass(frozen=True, eq=False)
class SampleTable:
    """Per-sample dynamics of a run's selection: one row per sample id."""

    ids: np.ndarray
    dynamics: SampleDynamics
    snapshots: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def columns(self) -> list[str]:
        return self.dynamics.columns()

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "id":
            return self.ids
        if name in self.extras:
            return self.extras[name]
        return self.dynamics.column(name)

    def __len__(self) -> int:
        return int(self.ids.size)

    def take(self, positions: Any) -> SampleTable:
        """The rows at ``positions`` (indices into :attr:`ids`), in that order."""
        rows = np.asarray(positions, dtype=np.int64)
        return SampleTable(
            ids=self.ids[rows],
            dynamics=self.dynamics.take(rows),
            snapshots=self.snapshots,
            extras={name: values[rows] for name, values in self.extras.items()},
        )

    def all_columns(self) -> list[str]:
        """``id``, the measures, then the run's extras: every column, in CSV order."""
        return ["id", *self.columns(), *self.extras]

    def to_csv(self, path_or_buffer: Any, *, columns: Sequence[str] | None = None) -> None:
        """Write the table as CSV (header ``id,label,...``, the run's extras last), or only
        ``columns`` in that order."""
        self.dynamics.to_csv(path_or_buffer, ids=self.ids, extras=self.extras, columns=columns)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {"id": self.ids, **self.dynamics.to_dict(), **self.extras}

    def to_pandas(self, *, columns: Sequence[str] | None = None) -> Any:
        """The table as a :class:`pandas.DataFrame` indexed by sample id, the columns of
        :meth:`to_csv` (or ``columns``); cells the CSV leaves empty are NaN / ``<NA>``.
        Needs the ``pandas`` extra; see :func:`reprdynamics.analysis.frames.sample_frame`.
        """
        from reprdynamics.analysis.frames import sample_frame

        return sample_frame(self, columns)

    def to_parquet(self, path: Any, columns: Sequence[str] | None = None) -> None:
        """Write the table (``id`` and the columns of :meth:`to_csv`, or ``columns`` in that
        order) as one Parquet file; cells the CSV leaves empty are null. ``path``: a path or
        a binary file object. Needs the ``parquet`` extra (pyarrow).
        """
        from reprdynamics.analysis.frames import write_parquet

        write_parquet(self, path, columns)

    def suspected_mislabeled(self, top_k: int = 20) -> np.ndarray:
        """Sample ids most likely mislabeled: lowest area under the margin first."""
        from reprdynamics.analysis.dynamics import mislabel_ranking

        order = mislabel_ranking(self.dynamics, top_k=top_k)
        return self.ids[order]

    def most_changed(self, top_k: int = 20) -> np.ndarray:
        """Sample ids whose neighbourhoods changed most (lowest neighbour stability)."""
        stability = self.dynamics.neighbour_stability
        if stability is None:
            raise InvalidParameterError(
                "most_changed needs neighbour stability; compute the table with neighbour_k."
            )
        order = np.argsort(np.where(np.isnan(stability), np.inf, stability), kind="stable")
        return self.ids[order[:top_k]]


def sample_dynamics(
    run: Run | str | os.PathLike[str],
    *,
    samples: Any = None,
    neighbour_k: int | None = 10,
    neighbour_layer: str | None = None,
    metric: str = "euclidean",
    backend: Any = "auto",
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: Any = None,
) -> SampleTable:
    """Per-sample dynamics of a run, one snapshot at a time: dataset cartography
    (Swayamdipta et al., EMNLP 2020), forgetting events (Toneva et al., ICLR 2019), the area
    under the margin (Pleiss et al., NeurIPS 2020) and neighbour stability.

    Entropy per snapshot, cartography (confidence, variability, correctness), forgetting
    events and ``never_learned``, AUM, first-learned snapshot (these need labels and an
    output layer of logits or probabilities), and neighbour stability (mean overlap of the
    ``neighbour_k`` neighbourhoods in ``neighbour_layer``; ``neighbour_k=None`` skips it).
    The neighbour search runs where ``scheduler`` says (see :func:`neighbours`); the rest
    streams the snapshots in this process, holding O(n) per-sample sums.
    """
    owner = "sample_dynamics"
    run = as_run(run)
    ids = parse_samples(run, samples, owner)
    snaps = complete_snapshots(run, "sample_dynamics", minimum=1)
    subset = None if ids.size == run.n_samples and np.array_equal(ids, np.arange(ids.size)) else ids
    labels = run.labels
    kind = run.kind
    acc = DynamicsAccumulator(labels[ids] if labels is not None else None, kind=kind)
    overlaps: Iterator[np.ndarray] | None = None
    if neighbour_k is not None and ids.size > 1 and snaps.size > 1:
        k = parse_k(neighbour_k, ids.size, owner)
        stack = neighbours(
            run,
            k=k,
            layer=neighbour_layer,
            samples=ids,
            metric=metric,
            backend=backend,
            use_cache=use_cache,
            progress=progress,
            scheduler=scheduler,
        )
        overlaps = stack.iter_overlaps()  # streamed: one transition at a time
    for pos, t in enumerate(snaps):
        values = None if kind == "features" else run.read(run.output_layer, int(t), subset)
        overlap = None if overlaps is None or pos == 0 else next(overlaps)
        acc.update(values, overlap=overlap)
        report(progress, pos + 1, snaps.size, "per-sample dynamics")
    extras = {}
    for name in ("label_flipped", "clean_labels"):
        if name in run.extras:
            extras[name] = run.extra(name)[ids]
    return SampleTable(ids=ids, dynamics=acc.result(), snapshots=snaps, extras=extras)
