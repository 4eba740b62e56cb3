"""The command line: ``reprdynamics info | demo | import-legacy | analyse | report | serve |
cache``.

Every command validates its arguments and reports problems as one clear line (exit code
2 for bad usage, 1 for a failure), never a traceback, unless ``REPRDYNAMICS_DEBUG=1``.
``info``, ``analyse`` and ``serve`` also take a run's URL (``s3://bucket/run``), with
``--storage-options JSON`` or credentials from the environment.
"""

from __future__ import annotations

# Each module registers its commands on the group when it is imported.
from reprdynamics.cli import analyse, demo, imports, info, report, serve  # noqa: F401
from reprdynamics.cli._main import main
from reprdynamics.cli.serve import legacy_main

__all__ = ["legacy_main", "main"]
