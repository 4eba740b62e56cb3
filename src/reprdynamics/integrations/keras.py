"""A Keras 3 callback that records probe passes into a run, on any Keras backend.

::

    from reprdynamics.integrations.keras import ReprDynamicsCallback

    cb = ReprDynamicsCallback("runs/exp1", probe=x_train, layers=["penultimate"], labels=y_train)
    model.fit(x_train, y_train, epochs=20, callbacks=[cb])

Keras callbacks see neither the batches nor the outputs of the training step, so this
callback records in **probe-pass** mode: at the end of each recorded epoch it runs the
model in inference mode over a fixed probe set (``probe``, in id order) and stores the
outputs of the named layers. It uses only backend-agnostic Keras (a functional sub-model
and ``predict_on_batch``), so it works on the JAX, TensorFlow and torch backends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from reprdynamics.errors import (
    InvalidParameterError,
    LayerNotFoundError,
    RecordingError,
    invalid_parameter,
    parse_int,
    require,
)
from reprdynamics.integrations._callbacks import RecordingCallback
from reprdynamics.integrations._parsing import did_you_mean, parse_pool_value
from reprdynamics.recording.convert import to_ids, to_numpy

keras = require("keras", "keras", "The Keras callback (reprdynamics.integrations.keras)")

__all__ = ["ReprDynamicsCallback"]

Pool = str | Callable[[np.ndarray], np.ndarray] | None


def _pool(values: np.ndarray, how: Pool, channels_last: bool) -> np.ndarray:
    """Global pooling of ``(B, *spatial, C)`` (or channels-first) feature maps to ``(B, C)``."""
    if callable(how):
        return np.asarray(how(values))
    if values.ndim <= 2 or how in (None, "flatten"):
        return values
    axes = tuple(range(1, values.ndim - 1)) if channels_last else tuple(range(2, values.ndim))
    return values.mean(axis=axes) if how == "avg" else values.max(axis=axes)


class ReprDynamicsCallback(keras.callbacks.Callback, RecordingCallback):
    """Record a probe pass over ``probe`` at the end of each recorded epoch.

    Parameters
    ----------
    run_dir
        Where the run is created.
    probe
        The probe set's inputs, an array (or a dict/list of arrays for multi-input models)
        with one row per sample, in id order: row ``i`` is sample ``i`` unless
        ``probe_ids`` says otherwise.
    probe_ids
        Optional ``(N,)`` sample ids of the probe rows (a permutation of ``0..N-1``).
    layers
        Layer names (``model.get_layer(name)``) whose outputs to record, or a mapping
        ``{run layer name: keras layer name}``. The model's output is recorded as the run's
        output layer too unless ``record_output=False``. Needs a functional or Sequential
        model (built with an ``Input``); a subclassed model can record only its output.
    every_n_epochs
        Record epochs ``0, n, 2n, ...``.
    batch_size
        Batch size of the probe pass.
    pool
        How outputs with more than two dimensions are reduced: ``"avg"`` (default, global
        average pooling over the spatial axes, honouring ``keras.config.image_data_format()``),
        ``"max"``, ``"flatten"`` / None, or a callable on the NumPy batch; or a mapping per
        run layer.
    labels, inputs, class_names, kind, output_layer, dtype, overwrite
        Passed to :class:`~reprdynamics.Recorder`. A last ``Dense`` with
        ``activation="softmax"`` outputs probabilities: say ``kind="probabilities"``.
    log_metrics
        Store the epoch's ``logs`` (loss, accuracy, validation metrics) with each snapshot.
    recorder_options
        More keyword arguments for the :class:`~reprdynamics.Recorder` (e.g. ``metadata``,
        or ``background=True`` to write snapshots in a background thread).

    Attributes
    ----------
    recorder_ : Recorder
        Created when training starts.
    probe_seconds_ : list of float
        Wall time of each probe pass, the snapshot write included (per-snapshot cost).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        probe: Any,
        *,
        probe_ids: Any = None,
        layers: str | Sequence[str] | Mapping[str, str] | None = None,
        every_n_epochs: int = 1,
        batch_size: int = 256,
        pool: Pool | Mapping[str, Pool] = "avg",
        labels: Any = None,
        inputs: Any = None,
        class_names: list[str] | None = None,
        kind: str = "logits",
        output_layer: str = "logits",
        record_output: bool = True,
        dtype: str = "float32",
        overwrite: bool = False,
        log_metrics: bool = True,
        recorder_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._store_params(locals())
        parse_int(batch_size, "batch_size", "ReprDynamicsCallback", low=1)
        self.n_probe = self._probe_length(probe)
        if probe_ids is None:
            self.probe_ids = np.arange(self.n_probe, dtype=np.int64)
        else:
            self.probe_ids = to_ids(probe_ids)
            if self.probe_ids.shape != (self.n_probe,):
                raise invalid_parameter(
                    "probe_ids",
                    "ReprDynamicsCallback",
                    f"{self.n_probe} ids, one per probe row",
                    self.probe_ids.shape,
                )
            covered = np.zeros(self.n_probe, dtype=bool)
            inside = (self.probe_ids >= 0) & (self.probe_ids < self.n_probe)
            covered[self.probe_ids[inside]] = True
            if not covered.all():
                missing = np.flatnonzero(~covered)
                raise RecordingError(
                    f"The probe ids do not cover the run's samples: {missing.size} of "
                    f"{self.n_probe} ids are missing (e.g. {missing[:5].tolist()}); probe_ids "
                    f"must be a permutation of 0..{self.n_probe - 1}."
                )
        self.probe_seconds_: list[float] = []
        self._submodel: Any = None
        self._names: list[str] = []
        self._pools: dict[str, Pool] = {}

    @staticmethod
    def _probe_length(probe: Any) -> int:
        first = probe
        if isinstance(probe, Mapping):
            first = next(iter(probe.values()), None)
        elif isinstance(probe, list | tuple):
            first = probe[0] if probe else None
        shape = getattr(first, "shape", None)
        if not shape:
            raise invalid_parameter(
                "probe",
                "ReprDynamicsCallback",
                "an array of probe inputs (or a dict/list of arrays), one row per sample",
                type(probe),
            )
        return int(shape[0])

    # ------------------------------------------------------------------ setup
    def _layer_map(self) -> dict[str, str | None]:
        """``{run layer: keras layer name}``; None stands for the model's output."""
        layers = self.layers
        mapping: dict[str, str | None]
        if layers is None:
            mapping = {}
        elif isinstance(layers, str):
            mapping = {layers: layers}
        elif isinstance(layers, Mapping):
            mapping = {str(k): str(v) for k, v in layers.items()}
        elif isinstance(layers, Iterable):
            mapping = {str(n): str(n) for n in layers}
        else:
            raise invalid_parameter(
                "layers",
                "ReprDynamicsCallback",
                "layer names or a {run layer: name} mapping",
                layers,
            )
        if self.record_output and self.output_layer not in mapping:
            mapping = {self.output_layer: None, **mapping}
        if not mapping:
            raise InvalidParameterError(
                "ReprDynamicsCallback has nothing to record: give layers=... or keep "
                "record_output=True."
            )
        return mapping

    def _build(self) -> None:
        model = self.model
        mapping = self._layer_map()
        available = [layer.name for layer in model.layers]
        missing = [v for v in mapping.values() if v is not None and v not in available]
        if missing:
            hint = did_you_mean(missing[0], available)
            raise LayerNotFoundError(
                f"The Keras model {model.name!r} has no layer named "
                f"{', '.join(map(repr, missing))}.{hint} Available layers: "
                f"{', '.join(map(repr, available)) or 'none'}."
            )
        outputs = []
        for name in mapping.values():
            if name is None:
                if len(model.outputs) != 1:
                    raise RecordingError(
                        f"The model has {len(model.outputs)} outputs; name the layer to record "
                        f"as the run's output layer in layers={{{self.output_layer!r}: ...}}."
                    )
                outputs.append(model.outputs[0])
            else:
                outputs.append(model.get_layer(name).output)
        try:
            # One input as a tensor, not a one-element list, so batches are passed as-is.
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            self._submodel = keras.Model(inputs=inputs, outputs=outputs)
        except (AttributeError, ValueError, TypeError) as exc:
            named = [n for n in mapping.values() if n is not None]
            if not named:  # only the output: call the model itself
                self._submodel = model
            else:
                raise RecordingError(
                    f"Cannot read the outputs of layers {named} of {model.name!r}: recording "
                    f"inner layers needs a functional or Sequential model built with an Input "
                    f"({exc})."
                ) from exc
        self._names = list(mapping)
        pools = self.pool if isinstance(self.pool, Mapping) else dict.fromkeys(mapping, self.pool)
        for name in self._names:
            self._pools[name] = parse_pool_value(pools.get(name, "avg"), "ReprDynamicsCallback")

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.recorder_ is not None and not self._open:
            # A second fit appends to the same run (give it initial_epoch so epochs go on).
            self.recorder_ = self._resumed_recorder()
        elif self.recorder_ is None:
            self.recorder_ = self._new_recorder(n_samples=self.n_probe, recorded_by="keras")
        self._open = True
        self._build()

    # ------------------------------------------------------------------ the probe pass
    def _slice(self, start: int, stop: int) -> Any:
        probe = self.probe
        if isinstance(probe, Mapping):
            return {k: v[start:stop] for k, v in probe.items()}
        if isinstance(probe, list | tuple):
            return [v[start:stop] for v in probe]
        return probe[start:stop]

    def record(self, epoch: int, metrics: Mapping[str, Any] | None = None) -> bool:
        """Run one probe pass now and write it as the snapshot of ``epoch``."""
        recorder = self.recorder_
        if recorder is None or self._submodel is None:
            raise InvalidParameterError("The callback records only once training has started.")
        if not recorder.should_record(epoch):
            return False
        started = time.perf_counter()
        channels_last = keras.config.image_data_format() == "channels_last"
        for start in range(0, self.n_probe, self.batch_size):
            stop = min(start + self.batch_size, self.n_probe)
            outs = self._submodel.predict_on_batch(self._slice(start, stop))
            if not isinstance(outs, list | tuple):
                outs = [outs]
            ids = self.probe_ids[start:stop]
            for name, values in zip(self._names, outs, strict=True):
                values = _pool(to_numpy(values), self._pools[name], channels_last)
                recorder.store_batch(values, ids, epoch, name)
        written = recorder.end_snapshot(metrics, epoch=epoch)
        self.probe_seconds_.append(time.perf_counter() - started)
        return written

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {k: v for k, v in (logs or {}).items() if np.ndim(v) == 0}
        self.record(epoch, metrics if self.log_metrics else None)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._close_recorder()
