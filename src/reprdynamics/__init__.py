"""ReprDynamics: how a classification network's view of its data changes during training.

Record per-sample outputs at snapshots with :class:`Recorder`, open a run with
:func:`open_run`, compute training fingerprints (:func:`fingerprint`), recurrence measures
(:func:`rqa`) and per-sample dynamics (:func:`sample_dynamics`), and explore them with
``reprdynamics serve``. The original tool's API lives on as :class:`ReprD` and
:class:`ReprDataset`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from reprdynamics import errors
from reprdynamics.recording import Recorder, snapshot_step_size
from reprdynamics.storage import Run, create_run, is_run, open_run

__version__ = "0.1.0"

# Heavier layers load on first use so `import reprdynamics` stays cheap in a training script.
_LAZY = {
    "fingerprint": "reprdynamics.analysis.api",
    "rqa": "reprdynamics.analysis.api",
    "sample_dynamics": "reprdynamics.analysis.api",
    "neighbours": "reprdynamics.analysis.api",
    "projection": "reprdynamics.analysis.api",
    "Fingerprint": "reprdynamics.analysis.api",
    "ReprD": "reprdynamics.compat",
    "ReprDataset": "reprdynamics.compat",
    "import_legacy": "reprdynamics.storage.legacy",
    "import_projector": "reprdynamics.recording.imports",
    "import_cartography": "reprdynamics.recording.imports",
    "sample_run_path": "reprdynamics.sample",
    "widget": "reprdynamics.widget",
}

__all__ = [
    "Recorder",
    "Run",
    "__version__",
    "create_run",
    "errors",
    "is_run",
    "open_run",
    "snapshot_step_size",
    *_LAZY,
]


def _lazy_attribute(namespace: dict[str, Any], lazy: Mapping[str, str], name: str) -> Any:
    """What a package's PEP 562 ``__getattr__`` returns for a name it loads on first use.

    ``lazy`` maps each such name to the module that holds it; the value is imported from
    there and kept in the package's ``namespace`` (its ``globals()``), so it is looked up
    only once. The subpackages that load names lazily (``integrations``) use it too.
    """
    module = lazy.get(name)
    if module is None:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    namespace[name] = value
    return value


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(__all__)
