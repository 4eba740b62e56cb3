"""The ground floor: the Zarr run format and the import of legacy save directories."""

from reprdynamics.storage.run import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KINDS,
    Run,
    SnapshotInfo,
    create_run,
    is_run,
    open_run,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "Run",
    "SnapshotInfo",
    "create_run",
    "is_run",
    "open_run",
]
