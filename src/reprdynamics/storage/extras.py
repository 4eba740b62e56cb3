"""Extras: per-sample arrays stored under ``extras/<name>`` beside the recorded layers
(which labels were flipped, a clean label, a split ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from reprdynamics.errors import InvalidParameterError, RunExistsError
from reprdynamics.storage.layout import _DENSE, dimension_names


class _Extras:
    """The extra per-sample arrays of a run."""

    @property
    def extras(self) -> list[str]:
        return sorted(self._group["extras"].array_keys()) if "extras" in self._group else []

    def extra(self, name: str) -> np.ndarray:
        if name not in self.extras:
            available = ", ".join(self.extras) or "none"
            raise KeyError(f"The run has no extra array {name!r}. Available: {available}.")
        path = f"extras/{name}"
        arr = self._array(path)
        with self._decoding(path, None):
            return np.asarray(arr[:])

    def write_extra(self, name: str, values: Any, *, overwrite: bool = False) -> None:
        """Store a per-sample array under ``extras/`` (e.g. which labels were flipped)."""
        self._require_writable()
        values = np.asarray(values)
        if values.ndim < 1 or values.shape[0] != self.n_samples:
            raise InvalidParameterError(
                f"Extra {name!r} must have {self.n_samples} rows; got shape {values.shape}.",
                parameter="values",
            )
        extras = self._group.require_group("extras")
        if name in extras:
            if not overwrite:
                raise RunExistsError(f"The run already has an extra array {name!r}.")
            del extras[name]
        arr = extras.create_array(
            name,
            shape=values.shape,
            dtype=values.dtype,
            dimension_names=dimension_names(f"extras/{name}", values.ndim),
            config=_DENSE,
        )
        arr[...] = values
