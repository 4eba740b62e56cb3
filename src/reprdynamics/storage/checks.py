"""What readers rely on in a run's metadata, checked when it is opened (and refreshed):
each problem a :class:`~reprdynamics.errors.CorruptRunError` that names the attribute or
entry, what it holds and what was expected."""

from __future__ import annotations

from typing import Any

from reprdynamics.errors import CorruptRunError, RunNotFoundError, UnsupportedFormatVersionError
from reprdynamics.storage.layout import FORMAT_NAME, FORMAT_VERSION, KINDS


def _int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


# What readers rely on in the attributes: (name, check, what is expected), checked at open.
_RUN_FIELDS = (
    ("kind", lambda v: v in KINDS, f"one of {KINDS}"),
    (
        "class_names",
        lambda v: v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v)),
        "a list of strings or null",
    ),
    ("metadata", lambda v: v is None or isinstance(v, dict), "an object"),
)
_ENTRY_FIELDS = (
    ("epoch", _int_or_none, "an int or null"),
    ("step", _int_or_none, "an int or null"),
    ("wall_time", _number_or_none, "a number or null"),
    ("metrics", lambda v: v is None or isinstance(v, dict), "an object"),
)


class _MetadataChecks:
    """The open-time check of :class:`~reprdynamics.storage.run.Run`."""

    def _check(self) -> None:
        attrs = self._attrs
        if attrs.get("format") != FORMAT_NAME:
            raise RunNotFoundError(
                f"{self.location!r} holds a Zarr group, but not a ReprDynamics run "
                f"(its 'format' attribute is {attrs.get('format')!r})."
            )
        version = attrs.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptRunError(
                f"The run at {self.location!r} has no valid 'format_version' attribute "
                f"(got {version!r})."
            )
        if version > FORMAT_VERSION:
            raise UnsupportedFormatVersionError(
                f"The run at {self.location!r} has format_version {version}; this release of "
                f"reprdynamics reads versions up to {FORMAT_VERSION}. Upgrade reprdynamics."
            )
        if version < 1:
            raise UnsupportedFormatVersionError(
                f"The run at {self.location!r} has unknown format_version {version}."
            )
        listed = "snapshots" if version == 1 else "consolidated"
        for key in ("n_samples", listed, "kind"):
            if key not in attrs:
                raise CorruptRunError(f"The run at {self.location!r} lacks the {key!r} attribute.")
        n = attrs["n_samples"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise CorruptRunError(
                f"The run at {self.location!r} has an invalid 'n_samples' attribute ({n!r}); "
                f"expected an int >= 1."
            )
        if not isinstance(attrs[listed], list):
            raise CorruptRunError(
                f"The run at {self.location!r} has a {listed!r} attribute that is not a list."
            )
        for t, entry in enumerate(self._entries):
            if entry.get("index") != t:
                raise CorruptRunError(
                    f"The entry of snapshot {t} of the run at {self.location!r} is damaged: "
                    f"its index is {entry.get('index')!r}, expected {t}."
                )
            for key, ok, expected in _ENTRY_FIELDS:
                if not ok(entry.get(key)):
                    raise CorruptRunError(
                        f"The entry of snapshot {t} of the run at {self.location!r} is "
                        f"damaged: its {key!r} is {entry.get(key)!r}, expected {expected}."
                    )
        for key, ok, expected in _RUN_FIELDS:
            if not ok(attrs.get(key)):
                raise CorruptRunError(
                    f"The run at {self.location!r} has an invalid {key!r} attribute "
                    f"({attrs.get(key)!r}); expected {expected}."
                )
        n_snap = len(self._entries)
        if "representations" not in self._group:
            raise CorruptRunError(
                f"The run at {self.location!r} lacks the 'representations' group."
            )
        if n_snap and not self.layers:
            raise CorruptRunError(
                f"The run at {self.location!r} lists {n_snap} snapshots but holds no layer "
                "arrays under 'representations'."
            )
        for name in ("complete", "predictions") if version == 1 else ("predictions",):
            if name not in self._group:
                raise CorruptRunError(f"The run at {self.location!r} lacks the {name!r} array.")
            if self._group[name].shape[0] < n_snap:
                raise CorruptRunError(
                    f"The run at {self.location!r} lists {n_snap} snapshots but its {name!r} "
                    f"array holds only {self._group[name].shape[0]}."
                )
        for layer in self.layers:
            arr = self._layer_array(layer)
            if arr.ndim != 3 or arr.shape[1] != self.n_samples or arr.shape[0] < n_snap:
                raise CorruptRunError(
                    f"Layer {layer!r} of the run at {self.location!r} has shape {arr.shape}; "
                    f"expected ({n_snap}+, {self.n_samples}, D)."
                )
