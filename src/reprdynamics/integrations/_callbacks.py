"""What the Lightning, Keras and Transformers callbacks share; imports no framework.

Each callback subclasses its framework's callback class and :class:`RecordingCallback`,
which holds the options they all take (stored as given, sklearn's convention), the run
they write, and the opening, resuming and closing of its recorder. :class:`RealRows`
leaves out the samples a padding sampler repeats at an epoch's end.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from reprdynamics.errors import InvalidParameterError, parse_int
from reprdynamics.recording.recorder import Recorder
from reprdynamics.storage.run import Run

_OWNER = "ReprDynamicsCallback"


class RecordingCallback:
    """The options, recorder and run of a ``ReprDynamicsCallback``, whatever its framework."""

    run_dir: str | os.PathLike[str]
    layers: str | Sequence[str] | Mapping[str, str] | None
    probe: Any
    every_n_epochs: int
    labels: Any
    inputs: Any
    class_names: list[str] | None
    kind: str
    output_layer: str
    record_output: bool
    dtype: str
    overwrite: bool
    log_metrics: bool
    recorder_options: dict[str, Any]
    recorder_: Recorder | None
    _open: bool

    def _store_params(self, params: Mapping[str, Any]) -> None:
        """Keep the constructor's parameters (its ``locals()``) as attributes of their names.

        ``every_n_epochs`` is checked, ``recorder_options`` copied into a dict; the recorder
        is made when training starts.
        """
        parse_int(params["every_n_epochs"], "every_n_epochs", _OWNER, low=1)
        for name, value in params.items():
            if name not in ("self", "__class__"):  # __class__: the cell of super()
                setattr(self, name, value)
        self.recorder_options = dict(self.recorder_options or {})
        self.recorder_ = None
        self._open = False

    @property
    def mode(self) -> str:
        """``"probe"`` or ``"training"``."""
        return "training" if self.probe is None else "probe"

    @property
    def run_(self) -> Run:
        if self.recorder_ is None:
            raise InvalidParameterError("No run yet: the callback creates it when training starts.")
        return self.recorder_.run

    def _new_recorder(self, *, n_samples: int, recorded_by: str, **extra: Any) -> Recorder:
        """The recorder of a new run, from the options the callback stores.

        ``recorder_options`` go to :class:`Recorder` unchanged, except ``metadata``, which is
        merged after the callback's own ``recorded_by`` and ``recording_mode`` facts.
        ``extra`` (e.g. the rank options of a multi-process recording) go to
        :class:`Recorder` too; ``labels`` and ``class_names`` there replace the callback's
        (what a callback read off the dataset or the model).
        """
        extra = {"labels": self.labels, "class_names": self.class_names, **extra}
        options = dict(self.recorder_options)
        metadata = dict(options.pop("metadata", None) or {})
        return Recorder(
            self.run_dir,
            n_samples=n_samples,
            inputs=self.inputs,
            kind=self.kind,
            output_layer=self.output_layer,
            every_n_epochs=self.every_n_epochs,
            dtype=self.dtype,
            overwrite=self.overwrite,
            **options,
            **extra,
            metadata={"recorded_by": recorded_by, "recording_mode": self.mode, **metadata},
        )

    def _resumed_recorder(self, **rank: Any) -> Recorder:
        """The recorder of a second fit, which appends to the run the first one wrote."""
        options = {k: v for k, v in self.recorder_options.items() if k != "metadata"}
        return Recorder(
            self.run_dir,
            resume=True,
            every_n_epochs=self.every_n_epochs,
            dtype=self.dtype,
            **options,
            **rank,
        )

    def _close_recorder(self, *, failed: bool = False) -> None:
        """Close the run (``failed=True``: drop the snapshot being assembled)."""
        if self.recorder_ is not None and self._open:
            if failed:
                self.recorder_.abort()
            else:
                self.recorder_.close()
            self._open = False


class RealRows:
    """Which rows of each training batch are real samples when the sampler pads the epoch.

    Under several processes a sampler (torch's ``DistributedSampler``, accelerate's
    ``BatchSamplerShard``) gives every process as many samples by repeating some at the end
    of the epoch; recorded, those would be ids twice in one snapshot. The first
    ``per_epoch`` rows a process sees in an epoch are real, the rest are repeats.
    ``per_epoch=None``: nothing is padded.
    """

    def __init__(self, per_epoch: int | None) -> None:
        self.per_epoch = per_epoch
        self._epoch: int | None = None
        self._seen = 0  # rows seen in self._epoch

    def keep(self, epoch: int, ids: Any) -> int | None:
        """How many leading rows of the next batch (its sample ``ids``) to record; None: all."""
        if self.per_epoch is None:
            return None
        size = len(ids)
        if epoch != self._epoch:
            self._epoch, self._seen = epoch, 0
        left = self.per_epoch - self._seen
        self._seen += size
        return max(left, 0) if left < size else None
