"""Record named torch modules' outputs into a run, in the training pass or a probe pass.

Two ways to record (``docs/recording-modes.md`` compares them):

* **training pass** — :class:`LayerRecorder` hooks the modules you name and stores their
  outputs while *your* forward pass runs, for the ids of the current batch::

      with LayerRecorder(net, rec, layers={"penultimate": "fc1"}) as hooks:
          for epoch in range(E):
              for x, y, ids in loader:
                  with hooks.batch(ids, epoch=epoch):
                      out = net(x)
                  ...  # loss, backward, step
              hooks.end_snapshot(metrics={"loss": ...})

* **probe pass** — :func:`record_probe_pass` runs the model in eval mode, without grad,
  over a fixed probe set at each snapshot::

      for epoch in range(E):
          train_one_epoch(net)
          record_probe_pass(net, probe_loader, rec, layers={"penultimate": "fc1"}, epoch=epoch)

What a hook costs the training step, and how outputs reach the recorder in groups of up to
:data:`GROUP_ROWS` rows per layer, is told in :mod:`~reprdynamics.integrations.torch.hooks`.

One concept per module: :mod:`~.hooks` (``LayerRecorder``), :mod:`~.probe` (the probe
pass), :mod:`~.parsing` (layers, pools, batches), :mod:`~.staging` (``DeviceStager``, the
recorder's copies off an accelerator), :mod:`~.devices` and :mod:`~.distributed`. Every
name is importable from here; importing this package without torch raises one
:class:`~reprdynamics.errors.DependencyMissingError` naming ``reprdynamics[torch]``.
"""

from __future__ import annotations

from reprdynamics.errors import require

# Before any submodule imports torch, so a missing torch gives the install hint.
torch = require("torch", "torch", "The torch integration (reprdynamics.integrations.torch)")

GROUP_ROWS = 4096
"""Pending rows per layer before a ``LayerRecorder`` hands outputs to the recorder."""

from reprdynamics.integrations.torch.devices import model_device  # noqa: E402
from reprdynamics.integrations.torch.distributed import distributed_options, real_rows  # noqa: E402
from reprdynamics.integrations.torch.hooks import LayerRecorder  # noqa: E402
from reprdynamics.integrations.torch.parsing import Pool as Pool  # noqa: E402 (for type hints)
from reprdynamics.integrations.torch.parsing import split_batch  # noqa: E402
from reprdynamics.integrations.torch.probe import ProbePass, record_probe_pass  # noqa: E402
from reprdynamics.integrations.torch.staging import DeviceStager  # noqa: E402

__all__ = [
    "DeviceStager",
    "LayerRecorder",
    "ProbePass",
    "distributed_options",
    "model_device",
    "real_rows",
    "record_probe_pass",
    "split_batch",
]
