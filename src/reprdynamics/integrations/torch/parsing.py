"""What the torch integration is told, parsed once: layers to hook, how to pool, batches.

:func:`parse_layers` turns ``layers=`` (a module name, a list, or a ``{run layer: module}``
mapping) into one mapping and names the available modules when one is missing;
:func:`parse_pool` does the same for ``pool=``, and :func:`apply_pool` reduces a feature
map as it says; :func:`split_batch` finds the inputs and the sample ids in a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from reprdynamics.errors import (
    InvalidParameterError,
    LayerNotFoundError,
    RecordingError,
    invalid_parameter,
)
from reprdynamics.integrations._parsing import did_you_mean, parse_pool_value

__all__ = ["Pool", "apply_pool", "parse_layers", "parse_pool", "split_batch"]

Pool = str | Callable[[Any], Any] | None


def parse_layers(
    model: Any, layers: Any, output_layer: str, record_output: bool, owner: str
) -> dict[str, str]:
    """``{run layer name: module name}``; module name ``""`` is the model itself (its output)."""
    if layers is None:
        mapping: dict[str, str] = {}
    elif isinstance(layers, str):
        mapping = {layers or output_layer: layers}
    elif isinstance(layers, Mapping):
        mapping = {}
        for key, value in layers.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise invalid_parameter(
                    "layers", owner, "a mapping of run layer names to module names (str)", layers
                )
            mapping[key or output_layer] = value
    elif isinstance(layers, Iterable):
        mapping = {}
        for name in layers:
            if not isinstance(name, str):
                raise invalid_parameter("layers", owner, "module names (str)", layers)
            mapping[name or output_layer] = name
    else:
        raise invalid_parameter(
            "layers",
            owner,
            "a module name, a list of them or a {run layer: module} mapping",
            layers,
        )
    if record_output and output_layer not in mapping and "" not in mapping.values():
        mapping[output_layer] = ""
    if not mapping:
        raise InvalidParameterError(
            f"{owner} has nothing to record: give layers=... or keep record_output=True."
        )
    for key in mapping:
        if "/" in key or key.startswith("."):
            raise invalid_parameter("layers", owner, "run layer names without '/'", key)
    available = dict(model.named_modules())
    missing = [m for m in mapping.values() if m not in available]
    if missing:
        names = [n for n in available if n]
        shown = ", ".join(repr(n) for n in names[:60])
        if len(names) > 60:
            shown += f", ... ({len(names) - 60} more)"
        hint = did_you_mean(missing[0], names)
        raise LayerNotFoundError(
            f"The model ({type(model).__name__}) has no module named "
            f"{', '.join(map(repr, missing))}.{hint} Available modules: {shown or 'none'}. "
            f"Use '' for the model's own output."
        )
    return mapping


def parse_pool(pool: Any, layers: Mapping[str, str], owner: str) -> dict[str, Pool]:
    if isinstance(pool, Mapping):
        unknown = set(pool) - set(layers)
        if unknown:
            raise invalid_parameter(
                "pool",
                owner,
                f"a mapping over the recorded layers {sorted(layers)}",
                sorted(unknown),
            )
        return {name: parse_pool_value(pool.get(name, "avg"), owner) for name in layers}
    return {name: parse_pool_value(pool, owner) for name in layers}


def apply_pool(tensor: Any, how: Pool) -> Any:
    """Reduce a ``(B, C, *spatial)`` feature map to ``(B, C)``; 2-D outputs pass unchanged."""
    if callable(how):
        return how(tensor)
    if tensor.ndim <= 2 or how in (None, "flatten"):
        return tensor
    if not tensor.is_floating_point():
        tensor = tensor.float()
    dims = tuple(range(2, tensor.ndim))
    return tensor.mean(dim=dims) if how == "avg" else tensor.amax(dim=dims)


def split_batch(batch: Any, *, input_key: str = "X", ids_key: str = "index") -> tuple[Any, Any]:
    """``(inputs, ids)`` of a batch: a dict with ``input_key`` and ``ids_key`` (like the items
    of :class:`~reprdynamics.ReprDataset`) or an ``(x, y, ids)`` tuple.

    Raises
    ------
    RecordingError
        The batch carries no sample ids.
    """
    if isinstance(batch, Mapping):
        if ids_key not in batch:
            raise RecordingError(
                f"A batch without ids: the batch is a dict with keys {sorted(map(str, batch))} "
                f"but no {ids_key!r} key holding the sample ids. Yield ids (ReprDataset items "
                f"have 'index') or pass ids_key=..."
            )
        if input_key not in batch:
            raise RecordingError(
                f"The batch is a dict with keys {sorted(map(str, batch))} but no {input_key!r} "
                f"key holding the inputs; pass input_key=..."
            )
        return batch[input_key], batch[ids_key]
    if isinstance(batch, Sequence) and not isinstance(batch, str) and len(batch) == 3:
        return batch[0], batch[2]
    what = (
        f"a {type(batch).__name__} of length {len(batch)}"
        if hasattr(batch, "__len__")
        else (f"a {type(batch).__name__}")
    )
    raise RecordingError(
        f"A batch without ids: expected a dict with {ids_key!r} or an (x, y, ids) tuple, got "
        f"{what}. Wrap the dataset so every item carries its sample id, e.g. "
        f"TensorDataset(x, y, torch.arange(len(x))) or reprdynamics.ReprDataset."
    )
