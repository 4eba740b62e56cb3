"""A long request as a value: its key, its heavy computation and its cheap rendering."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprdynamics.analysis.reads import Progress
from reprdynamics.server.workspace import no_progress
from reprdynamics.storage.run import Run


# --------------------------------------------------------------------------- computations
@dataclass(frozen=True, eq=False)
class Computation:
    """A validated request of a possibly long computation."""

    key: Hashable
    description: str
    compute: Callable[[Progress], Any]
    render: Callable[[Any], Any]
    #: The run it reads, when one (the binary answers tag themselves with its state).
    source: Run | None = None

    @classmethod
    def on_run(
        cls,
        endpoint: str,
        run: Run,
        spec: dict[str, Any],
        description: str,
        compute: Callable[[Progress], Any],
        render: Callable[[Any], Any] = lambda result: result,
    ) -> Computation:
        """The computation of ``endpoint`` on one run: keyed by the run's state and the
        validated parameters ``spec`` (:func:`computation_key`), rendered as it is unless
        ``render`` says otherwise."""
        return cls(computation_key(endpoint, run, spec), description, compute, render, run)

    def run(self, progress: Progress | None = None) -> Any:
        """Compute and render now, in this thread."""
        return self.render(self.compute(progress or no_progress))


def computation_key(endpoint: str, run: Run, params: dict[str, Any]) -> tuple[str, str, str, str]:
    """The memo key of a computation: what, on which run in which state, with what."""
    blob = json.dumps(params, sort_keys=True, default=_key_default)
    return (endpoint, run.location, run.state_token(), blob)


def _key_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # a digest: a million ids need not become JSON
        data = np.ascontiguousarray(value)
        return f"{data.dtype}{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}"
    return str(value)
