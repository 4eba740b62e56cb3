"""Conversion of framework tensors and array-likes to NumPy, without importing a framework."""

from __future__ import annotations

import numpy as np
import pytest

from reprdynamics.recording import to_ids, to_numpy


class ArrayOnly:
    """Exposes only ``__array__`` (like a JAX or TensorFlow eager array)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


class DLPackOnly:
    """Exposes only ``__dlpack__`` (no ``__array__``, no ``__dlpack_device__``)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __dlpack__(self, **kwargs):
        return self._values.__dlpack__(**kwargs)


VALUES = np.arange(12, dtype=np.float32).reshape(4, 3)


def test_numpy_arrays_pass_through_without_copy():
    assert to_numpy(VALUES) is VALUES


@pytest.mark.parametrize(
    "value",
    [VALUES.tolist(), tuple(map(tuple, VALUES.tolist())), ArrayOnly(VALUES), DLPackOnly(VALUES)],
    ids=["list", "tuple", "__array__", "__dlpack__"],
)
def test_array_likes(value):
    got = to_numpy(value)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, VALUES)


def test_scalars():
    assert to_numpy(3).shape == ()
    assert to_numpy(2.5).item() == 2.5


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_torch_tensor_that_requires_grad(torch):
    tensor = torch.tensor(VALUES, requires_grad=True) * 2
    got = to_numpy(tensor)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, VALUES * 2)


def test_torch_bfloat16_is_widened(torch):
    got = to_numpy(torch.tensor(VALUES).to(torch.bfloat16))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, VALUES)  # small integers are exact in bfloat16


def test_torch_float16_stays_float16(torch):
    assert to_numpy(torch.tensor(VALUES, dtype=torch.float16)).dtype == np.float16


def test_ids_from_torch_tensor(torch):
    ids = to_ids(torch.tensor([[3], [1], [2]]))
    assert ids.shape == (3,)
    np.testing.assert_array_equal(ids, [3, 1, 2])


def test_torch_cuda_tensor_is_copied_to_the_host(torch):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    tensor = torch.tensor(VALUES, device="cuda", requires_grad=True) + 1
    np.testing.assert_array_equal(to_numpy(tensor), VALUES + 1)
    np.testing.assert_array_equal(to_ids(torch.arange(4, device="cuda")), range(4))


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (range(5), [0, 1, 2, 3, 4]),
        (range(10, 2, -3), [10, 7, 4]),
        ([4, 2, 0], [4, 2, 0]),
        (np.array([[1, 2], [3, 4]]), [1, 2, 3, 4]),
        (ArrayOnly(np.array([7, 8])), [7, 8]),
        (np.int64(5), [5]),
    ],
)
def test_to_ids(ids, expected):
    got = to_ids(ids)
    assert got.ndim == 1
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("empty", [[], (), range(0), np.array([])])
def test_empty_ids_are_integers(empty):
    got = to_ids(empty)
    assert got.shape == (0,)
    assert got.dtype == np.int64
    np.zeros((3, 2))[got]  # usable as an index
