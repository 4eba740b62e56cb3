"""Framework integrations: the only place where torch, Lightning, Keras or Transformers is
imported.

Importing this package imports no framework. Each integration lives in its own module and
imports its framework when that module is imported:

* :mod:`reprdynamics.integrations.torch` — :class:`LayerRecorder` (forward hooks on named
  modules, training-pass recording) and :func:`record_probe_pass` (probe-pass recording);
* :mod:`reprdynamics.integrations.lightning` — ``ReprDynamicsCallback`` for PyTorch Lightning;
* :mod:`reprdynamics.integrations.keras` — ``ReprDynamicsCallback`` for Keras 3 (any backend);
* :mod:`reprdynamics.integrations.transformers` — ``ReprDynamicsCallback``, a Hugging Face
  ``TrainerCallback``.

The torch names are also reachable from here, loaded on first use::

    from reprdynamics.integrations import LayerRecorder, record_probe_pass

See ``docs/recording-modes.md`` for the difference between the training pass and the probe
pass, and ``docs/integrations/`` for one page per framework.
"""

from __future__ import annotations

from typing import Any

from reprdynamics import _lazy_attribute

__all__ = ["LayerRecorder", "ProbePass", "record_probe_pass"]

_LAZY = {name: "reprdynamics.integrations.torch" for name in __all__}


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted([*__all__, "keras", "lightning", "torch", "transformers"])
