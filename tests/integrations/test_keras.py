"""Keras 3 callback, run on the torch backend (so CI needs no TensorFlow)."""

from __future__ import annotations

import os

import numpy as np
import pytest

# The backend is chosen when keras is first imported; torch is the one CI installs.
os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another test imported keras first
    pytest.skip(
        f"keras was already imported with the {keras.backend.backend()} backend",
        allow_module_level=True,
    )

import reprdynamics as rd  # noqa: E402
from reprdynamics.errors import LayerNotFoundError, RecordingError  # noqa: E402
from reprdynamics.integrations.keras import ReprDynamicsCallback  # noqa: E402

# Keras's torch backend converts tensors with np.array(x) (its warning, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N = 60


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(12, activation="relu", name="penultimate"),
            keras.layers.Dense(3, name="logits"),
        ]
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 8, 8, 1)).astype("float32"), rng.integers(0, 3, N)


def _fit(model, x, y, cb, epochs=2):
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=epochs, batch_size=16, shuffle=True, verbose=0, callbacks=[cb])


def test_fit_records_probe_passes(tmp_path, data):
    x, y = data
    model = _model()
    cb = ReprDynamicsCallback(
        tmp_path / "run", x, layers=["penultimate", "conv"], labels=y, batch_size=25
    )
    _fit(model, x, y, cb)
    run = rd.open_run(tmp_path / "run")
    assert run.n_snapshots == 2 and run.epochs == [0, 1]
    assert run.layers[0] == "logits" and sorted(run.layers) == ["conv", "logits", "penultimate"]
    assert run.layer_dim("conv") == 4  # average-pooled over the 8x8 map
    assert run.complete.all()
    assert {"loss", "accuracy"} <= set(run.metric_names)
    assert len(cb.probe_seconds_) == 2
    np.testing.assert_allclose(run.read("logits", -1), model.predict(x, verbose=0), atol=1e-5)
    conv = keras.Model(model.inputs[0], model.get_layer("conv").output).predict(x, verbose=0)
    np.testing.assert_allclose(run.read("conv", -1), conv.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_array_equal(run.predictions(-1), run.read("logits", -1).argmax(1))


def test_probe_ids_schedule_and_mapping(tmp_path, data):
    x, y = data
    order = np.random.default_rng(1).permutation(N)
    model = _model()
    cb = ReprDynamicsCallback(
        tmp_path / "run",
        x[order],
        probe_ids=order,
        layers={"hidden": "penultimate"},
        every_n_epochs=2,
        pool="flatten",
    )
    _fit(model, x, y, cb, epochs=3)
    run = rd.open_run(tmp_path / "run")
    assert run.epochs == [0, 2] and run.layers == ["logits", "hidden"]
    np.testing.assert_allclose(run.read("logits", -1), model.predict(x, verbose=0), atol=1e-5)


def test_bad_input(tmp_path, data):
    x, y = data
    model = _model()
    cb = ReprDynamicsCallback(tmp_path / "run", x, layers=["penultimat"])
    with pytest.raises(LayerNotFoundError, match=r"Did you mean 'penultimate'.*'conv'"):
        _fit(model, x, y, cb, epochs=1)
    with pytest.raises(RecordingError, match=r"do not cover.*1 of 60"):
        ReprDynamicsCallback(tmp_path / "r2", x, probe_ids=np.r_[np.arange(N - 1), 0])
