"""Import recordings made with other tools into the run format.

Two sources are read, each only ever read, never changed:

* **TensorBoard projector checkpoints**, as ``SummaryWriter.add_embedding(mat, metadata,
  global_step=step, tag=tag)`` (``torch.utils.tensorboard``, ``tensorboardX``) writes them::

      <log_dir>/projector_config.pbtxt           embeddings { tensor_name: "tag:00003"
                                                              tensor_path: "00003/tag/tensors.tsv"
                                                              metadata_path: ... }
      <log_dir>/<step, zero-padded to 5>/<tag>/tensors.tsv    one row per sample, tab-separated
      <log_dir>/<step>/<tag>/metadata.tsv       one label per line, or a header row and
                                                tab-separated columns
      <log_dir>/<step>/<tag>/sprite.png         optional thumbnails (not imported)

  The writer escapes ``%``, ``/`` and ``\\`` in the tag's folder name as ``%25``, ``%2f``
  and ``%5c``. :func:`import_projector` writes one snapshot per step.

* **Dataset cartography** training dynamics (Swayamdipta et al. 2020, allenai/cartography,
  ``selection_utils.log_training_dynamics``): ``training_dynamics/dynamics_epoch_<e>.jsonl``,
  one JSON object per line and training example, ``{"guid": ..., "logits_epoch_<e>": [...],
  "gold": <int>}``. :func:`import_cartography` writes one snapshot per epoch file.

Everything is parsed and checked before the run is created, so a refused source leaves no
run behind (and never replaces one). Problems in the source raise
:class:`~reprdynamics.errors.CorruptRunError` naming the file, the line and what is wrong; a
missing or empty source raises :class:`~reprdynamics.errors.RunNotFoundError`.
"""

from reprdynamics.recording.imports.cartography import CARTOGRAPHY_FORMAT, import_cartography
from reprdynamics.recording.imports.projector import (
    PROJECTOR_FORMAT,
    ProjectorMetadata,
    import_projector,
    read_projector_metadata,
    read_projector_tensors,
)

__all__ = [
    "CARTOGRAPHY_FORMAT",
    "PROJECTOR_FORMAT",
    "ProjectorMetadata",
    "import_cartography",
    "import_projector",
    "read_projector_metadata",
    "read_projector_tensors",
]
