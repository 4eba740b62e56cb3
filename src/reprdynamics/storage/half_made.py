"""Half-made runs: a run whose creation was interrupted before its attributes were
written holds no recorded data; ``overwrite=True`` replaces it, and opening it says so."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprdynamics.storage.layout import _ENTRIES, _OWN_NAMES, FORMAT_NAME
from reprdynamics.storage.location import _is_url


def _half_made(location: str, store_options: Mapping[str, Any] | None) -> bool:
    """A run whose creation was interrupted: a group without the run's attributes that
    holds nothing but the run's own arrays and groups."""
    if _is_url(location):
        import fsspec

        fs, path = fsspec.core.url_to_fs(location, **(store_options or {}))
        try:
            names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False)}
            meta = fs.cat_file(f"{path.rstrip('/')}/zarr.json")
        except (OSError, ValueError):
            return False
    else:
        root = Path(location)
        try:
            names = {p.name for p in root.iterdir()}
            meta = (root / "zarr.json").read_bytes()
        except OSError:
            return False
    try:
        doc = json.loads(meta)
    except ValueError:
        return False  # a damaged run, not a half-made one
    if not isinstance(doc, dict) or doc.get("node_type") != "group":
        return False
    attrs = doc.get("attributes") or {}
    if not names <= _OWN_NAMES:
        return False
    if attrs.get("format") != FORMAT_NAME:
        return not attrs  # a group of someone else's has attributes of its own
    # Earlier code wrote the attributes one by one: a kill left the format without the rest.
    if "n_samples" in attrs or _is_url(location):
        return False
    entries = Path(location) / _ENTRIES
    return not (entries.is_dir() and any(p.name.isdigit() for p in entries.iterdir()))
