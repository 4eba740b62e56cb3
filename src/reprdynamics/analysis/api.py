"""Run-level analysis: streams snapshots from a run, calls the pure functions, caches results
(the one name for run_inputs, run_neighbours, run_fingerprints, run_samples, run_projection).

Everything here reads one snapshot at a time (the neighbour lists, predictions and
running sums it keeps are O(T·n·k) and O(n)), and stores heavy results in the run's
``cache/`` keyed by their parameters and the run's state, so a result computed from other
parameters or from fewer snapshots is never served.
"""

from __future__ import annotations

from reprdynamics.analysis.run_fingerprints import (
    FINGERPRINT_KINDS,
    Fingerprint,
    fingerprint,
    phase_changes_of,
    rqa,
)
from reprdynamics.analysis.run_inputs import backend_token as _backend_token  # noqa: F401 (tests)
from reprdynamics.analysis.run_inputs import list_runs as list_runs  # the CLI and the report
from reprdynamics.analysis.run_neighbours import _MEMO as _MEMO  # tests clear it
from reprdynamics.analysis.run_neighbours import neighbours
from reprdynamics.analysis.run_projection import (
    ProjectionOverTime,
    projection,
)
from reprdynamics.analysis.run_samples import (
    SampleTable,
    sample_dynamics,
)
from reprdynamics.analysis.stacks import (
    NeighbourStack,
)

__all__ = [
    "FINGERPRINT_KINDS",
    "Fingerprint",
    "NeighbourStack",
    "ProjectionOverTime",
    "SampleTable",
    "fingerprint",
    "neighbours",
    "phase_changes_of",
    "projection",
    "rqa",
    "sample_dynamics",
]
