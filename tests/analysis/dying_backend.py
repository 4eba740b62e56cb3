"""A neighbour backend that kills the worker process running it (for the failure tests).

It lives in its own module so that spawned worker processes can import it by name.
"""

from __future__ import annotations

import os
from pathlib import Path

from reprdynamics.analysis.neighbours import ExactKNNIndex


class DyingIndex(ExactKNNIndex):
    """Exits the process hard (as a kill or the OOM killer would) when it builds.

    With ``once_marker`` it dies only on the first build anywhere (the marker file is
    created then), so a retried task succeeds.
    """

    def __init__(self, *, once_marker: str | None = None) -> None:
        super().__init__()
        self.once_marker = once_marker

    def build(self, data):
        if self.once_marker is None:
            os._exit(17)
        marker = Path(self.once_marker)
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return super().build(data)
        os._exit(17)
