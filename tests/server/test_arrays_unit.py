"""server/arrays.py tested directly: compact arrays, JSON-safe values, errors, parameters."""

from __future__ import annotations

import base64
import dataclasses
import math

import numpy as np
import pytest

from reprdynamics import errors
from reprdynamics.server.arrays import (
    ApiError,
    Params,
    api_error,
    bad_parameter,
    compact,
    decode_compact,
    json_safe,
    parse_ordered_ids,
    parse_selection,
)


# ---------------------------------------------------------------- compact arrays
@pytest.mark.parametrize("dtype", ["float32", "int32", "uint8"])
@pytest.mark.parametrize("shape", [(0,), (5,), (3, 4), (2, 3, 2)])
def test_compact_round_trips(dtype, shape):
    values = (np.arange(math.prod(shape)) % 200).reshape(shape).astype(dtype)
    encoded = compact(values, dtype)
    assert encoded["dtype"] == dtype and encoded["shape"] == list(shape)
    decoded = decode_compact(encoded)
    assert decoded.dtype == np.dtype(dtype) and decoded.shape == shape
    np.testing.assert_array_equal(decoded, values)


def test_compact_is_little_endian_c_order_and_casts():
    encoded = compact(np.array([[1, 2], [3, 256]]), "int32")
    raw = base64.b64decode(encoded["data"])
    assert raw == np.array([1, 2, 3, 256], dtype="<i4").tobytes()
    big = np.array([1.5, -2.0], dtype=">f8")  # other byte order and width: cast
    np.testing.assert_array_equal(decode_compact(compact(big, "float32")), [1.5, -2.0])
    fortran = np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    np.testing.assert_array_equal(decode_compact(compact(fortran, "uint8")), fortran)


def test_compact_refuses_other_dtypes():
    with pytest.raises(ValueError, match="float64"):
        compact(np.zeros(2), "float64")
    with pytest.raises(ValueError, match="int64"):
        decode_compact({"dtype": "int64", "shape": [1], "data": ""})


# ---------------------------------------------------------------- JSON and errors
@dataclasses.dataclass
class _Point:
    x: float
    label: str


def test_json_safe_turns_numpy_and_non_finite_values_into_json():
    value = {
        1: np.float32(0.5),
        "nan": float("nan"),
        "inf": np.inf,
        "array": np.array([1.0, np.nan]),
        "tuple": (np.int64(3), True, None),
        "point": _Point(float("-inf"), "a"),
        "other": np.dtype("int32"),
    }
    assert json_safe(value) == {
        "1": 0.5,
        "nan": None,
        "inf": None,
        "array": [1.0, None],
        "tuple": [3, True, None],
        "point": {"x": None, "label": "a"},
        "other": "int32",
    }
    assert type(json_safe(np.int64(3))) is int


def test_bad_parameter_names_the_parameter_and_what_came():
    error = bad_parameter("k", "an int in [1, 10]", 0)
    assert error.status == 400 and error.parameter == "k"
    assert error.message == "The 'k' parameter must be an int in [1, 10]. Got 0 instead."
    assert error.to_dict() == {"error": error.message, "status": 400, "parameter": "k"}
    long = bad_parameter("ids", "short", "x" * 500)
    assert len(long.message) < 200 and "..." in long.message
    assert ApiError(500, "boom").to_dict() == {"error": "boom", "status": 500}


@pytest.mark.parametrize(
    ("exc", "status", "parameter"),
    [
        (errors.RunNotFoundError("gone"), 404, "run"),
        (errors.LayerNotFoundError("no layer"), 400, "layer"),
        (errors.UnknownSampleError("no sample"), 400, "samples"),
        (errors.NotEnoughSnapshotsError("one"), 422, None),
        (errors.CorruptRunError("bad"), 422, "run"),
        (errors.invalid_parameter("k", "x", "an int", 0), 400, "k"),
        (errors.InvalidParameterError("Something else is wrong."), 400, None),
    ],
)
def test_api_error_maps_our_errors_to_statuses(exc, status, parameter):
    answer = api_error(exc)
    assert answer is not None
    assert (answer.status, answer.parameter, answer.message) == (status, parameter, str(exc))


def test_api_error_leaves_bugs_alone():
    assert api_error(KeyError("x")) is None
    same = ApiError(418, "teapot")
    assert api_error(same) is same


# ---------------------------------------------------------------- selections
def test_parse_selection_ranges_are_a_sorted_set():
    ids = parse_selection(" 5-7 ,0, 6-8 ", 10)
    assert ids.dtype == np.int64 and ids.tolist() == [0, 5, 6, 7, 8]
    assert parse_selection([3, 1.0, 3], 4).tolist() == [1, 3]
    assert parse_selection(None, 4) is None
    assert parse_selection(" ALL ", 4) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0-10", r"ids in \[0, 9\]"),
        ("5-2", "low <= high"),
        ("1,x", "Got 'x'"),
        ("", "non-empty"),
        ([], "non-empty"),
        ([1, True], "Got True"),
        ([-1], r"ids in \[0, 9\]"),
        ("0-9,0-9", "at most 10 ids"),  # overlapping ranges count each time
        (3, "Got 3"),
    ],
)
def test_parse_selection_errors_name_the_parameter(value, message):
    with pytest.raises(ApiError, match=message) as caught:
        parse_selection(value, 10, name="picked")
    assert caught.value.status == 400 and caught.value.parameter == "picked"
    assert caught.value.message.startswith("The 'picked' parameter must be")


def test_parse_ordered_ids_keeps_order_and_repeats_up_to_the_limit():
    assert parse_ordered_ids("5,0-2,1", 10, "ids", limit=5).tolist() == [5, 0, 1, 2, 1]
    assert parse_ordered_ids([2, 2], 3, "ids", limit=2).tolist() == [2, 2]
    with pytest.raises(ApiError, match="at most 4 ids") as caught:
        parse_ordered_ids("0-9", 10, "ids", limit=4)
    assert caught.value.parameter == "ids"
    with pytest.raises(ApiError):
        parse_ordered_ids("all", 10, "ids", limit=10)


# ---------------------------------------------------------------- Params
def test_params_integer():
    params = Params({"k": " 7", "bad": "7.5", "empty": "", "big": "99"}, {"body": 5.0})
    assert params.integer("k", low=1, high=10) == 7
    assert params.integer("body") == 5
    assert params.integer("absent", 3) == 3
    for name in ("bad", "empty", "big"):
        with pytest.raises(ApiError, match=rf"'{name}' parameter must be an int") as caught:
            params.integer(name, low=1, high=10)
        assert caught.value.parameter == name
    with pytest.raises(ApiError, match="'absent' parameter is required"):
        params.integer("absent", required=True)


def test_params_body_values_keep_their_json_type():
    params = Params({}, {"k": "5", "on": "true", "x": True})
    with pytest.raises(ApiError, match="a JSON value, not a string"):
        params.integer("k")
    with pytest.raises(ApiError, match="a JSON value, not a string"):
        params.flag("on")
    with pytest.raises(ApiError, match="'x' parameter must be an int"):
        params.integer("x")


def test_params_number_bounds():
    params = Params({"eps": "0.25", "zero": "0", "nan": "nan", "word": "abc"})
    assert params.number("eps", low=0, high=1) == 0.25
    assert params.number("zero", low=0) == 0.0
    with pytest.raises(ApiError, match=r"a number in \(0, 1\]"):
        params.number("zero", low=0, high=1, low_open=True)
    for name in ("nan", "word"):
        with pytest.raises(ApiError) as caught:
            params.number(name)
        assert caught.value.parameter == name


def test_params_flag_text_and_choice():
    params = Params({"on": "true", "off": "false", "yes": "yes", "kind": "Class_Transition"})
    assert params.flag("on") is True and params.flag("off") is False
    assert params.flag("absent", default=True) is True
    with pytest.raises(ApiError, match="true or false"):
        params.flag("yes")
    assert params.choice("kind", ("class-transition", "cka"), "cka") == "class-transition"
    assert params.choice("absent", ("cka",), "cka") == "cka"
    with pytest.raises(ApiError, match=r"one of \['cka'\]"):
        params.choice("kind", ("cka",), "cka")
    with pytest.raises(ApiError, match="non-empty string"):
        Params({"t": ""}).text("t")
    assert not Params({"t": ""}).has("t") and Params({"t": "a"}).has("t")


def test_params_selection_tokens():
    class Registry:
        def resolve(self, token, n_samples, name):
            return np.array([n_samples - 1]) if token == "sel:" + "0" * 32 else None

    token = "sel:" + "0" * 32
    assert Params({"samples": token}, selections=Registry()).selection("samples", 4).tolist() == [3]
    with pytest.raises(ApiError, match="no registered selections") as caught:
        Params({"samples": token}).selection("samples", 4)
    assert caught.value.parameter == "samples"
    assert Params({"samples": "1,0"}).selection("samples", 4).tolist() == [0, 1]
