"""What the Lightning and Keras callbacks share; imports no framework."""

from __future__ import annotations

from typing import Any

from reprdynamics.recording.recorder import Recorder


def open_callback_recorder(
    callback: Any, *, n_samples: int, recorded_by: str, mode: str, **extra: Any
) -> Recorder:
    """The recorder of a callback, from the run options both callbacks store alike.

    ``recorder_options`` go to :class:`Recorder` unchanged, except ``metadata``, which is
    merged after the callback's own ``recorded_by`` and ``recording_mode`` facts. ``extra``
    (e.g. the rank options of a multi-process recording) go to :class:`Recorder` too;
    ``labels`` and ``class_names`` there replace the callback's (what a callback read off
    the dataset or the model).
    """
    extra = {"labels": callback.labels, "class_names": callback.class_names, **extra}
    options = dict(callback.recorder_options)
    metadata = dict(options.pop("metadata", None) or {})
    return Recorder(
        callback.run_dir,
        n_samples=n_samples,
        inputs=callback.inputs,
        kind=callback.kind,
        output_layer=callback.output_layer,
        every_n_epochs=callback.every_n_epochs,
        dtype=callback.dtype,
        overwrite=callback.overwrite,
        **options,
        **extra,
        metadata={"recorded_by": recorded_by, "recording_mode": mode, **metadata},
    )
