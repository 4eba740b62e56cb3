"""The run format: one Zarr v3 group per training run.

This module gathers the format's public names; each concept has a module of its own:

- :mod:`~reprdynamics.storage.layout`: what a run stores where, format constants and
  dimension names (the layout is drawn there and in ``docs/run-format.md``);
- :mod:`~reprdynamics.storage.location`: paths and URLs, store options and store errors;
- :mod:`~reprdynamics.storage.creation` and :mod:`~reprdynamics.storage.half_made`:
  creating a run, and runs whose creation was interrupted;
- :mod:`~reprdynamics.storage.opening`: :func:`open_run` and :func:`is_run`;
- :mod:`~reprdynamics.storage.reader`: the :class:`Run` class, made of the mixins of
  :mod:`~reprdynamics.storage.entries` (the commit points),
  :mod:`~reprdynamics.storage.appending`, :mod:`~reprdynamics.storage.metrics`,
  :mod:`~reprdynamics.storage.extras`, :mod:`~reprdynamics.storage.parts`,
  :mod:`~reprdynamics.storage.checks` (metadata checked at open),
  :mod:`~reprdynamics.storage.damage` (lost and undecodable chunks),
  :mod:`~reprdynamics.storage.cache` and :mod:`~reprdynamics.storage.cache_bound`.

The storage modules import nothing of ours but :mod:`reprdynamics.errors` and each other.
"""

from __future__ import annotations

from reprdynamics.storage.cache_bound import (
    CACHE_LIMIT_ENV,
    CacheEntry,
    parse_cache_limit,  # noqa: F401 (the CLI takes it)
)
from reprdynamics.storage.creation import create_run
from reprdynamics.storage.damage import Damage
from reprdynamics.storage.entries import SnapshotInfo
from reprdynamics.storage.layout import FORMAT_NAME, FORMAT_VERSION, KINDS, dimension_names
from reprdynamics.storage.opening import is_run, open_run
from reprdynamics.storage.reader import Run

__all__ = [
    "CACHE_LIMIT_ENV",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "CacheEntry",
    "Damage",
    "Run",
    "SnapshotInfo",
    "create_run",
    "dimension_names",
    "is_run",
    "open_run",
]
