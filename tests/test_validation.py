"""Declared parameter constraints: what each accepts, the message it gives, the decorator."""

from __future__ import annotations

import numpy as np
import pytest

from reprdynamics.errors import InvalidParameterError, parse_int
from reprdynamics.validation import Integer, Options, OrNone, Real, check, validate_params


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (3, True),
        (np.int64(3), True),
        (1, True),
        (15, True),
        (0, False),
        (16, False),
        (True, False),
        (3.0, False),
        ("3", False),
        (None, False),
    ],
)
def test_integer_accepts_whole_numbers_in_its_bounds_only(value, ok):
    assert Integer(low=1, high=15).accepts(value) is ok


def test_messages_follow_the_one_template_and_name_the_parameter():
    with pytest.raises(InvalidParameterError) as info:
        check(0, Integer(low=1, high=15), "k", "fingerprint")
    assert str(info.value) == (
        "The 'k' parameter of fingerprint must be an int in [1, 15]. Got 0 instead."
    )
    assert info.value.parameter == "k"
    assert Integer(low=1, high=4, high_name="n-1").describe() == "an int in [1, n-1=4]"
    assert Integer(low=0).describe() == "an int >= 0"
    assert Integer(high=9).describe() == "an int <= 9"
    assert Real(low=0, noun="a float", finite=False).describe() == "a float >= 0"
    assert Options(("a", "b")).describe() == "one of ['a', 'b']"


def test_real_refuses_nan_and_bools_and_infinity_unless_allowed():
    unit = Real(low=0, high=1)
    assert unit.accepts(0.5) and unit.accepts(np.float32(1)) and unit.accepts(0)
    assert not unit.accepts(float("nan")) and not unit.accepts(True) and not unit.accepts(2)
    assert not Real(low=0).accepts(float("inf"))
    open_ended = Real(low=0, finite=False)
    assert open_ended.accepts(float("inf")) and not open_ended.accepts(float("nan"))
    assert check(np.float32(0.25), unit, "x", "f") == 0.25 and isinstance(
        check(np.float32(0.25), unit, "x", "f"), float
    )


def test_options_refuse_what_is_not_one_of_them_even_unhashable():
    colours = Options(["red", "blue"])
    assert colours.accepts("red") and not colours.accepts("green")
    assert not colours.accepts(["red"])


def test_validate_params_checks_given_and_default_values_and_converts():
    @validate_params(k=Integer(low=1), metric=Options(("euclidean", "cosine")))
    def search(x, k=10, metric="euclidean"):
        return k, metric

    assert search(None, np.int32(4)) == (4, "euclidean")
    assert type(search(None, np.int32(4))[0]) is int
    with pytest.raises(
        InvalidParameterError, match=r"'k' parameter of .*search must be an int >= 1"
    ):
        search(None, k=0)
    with pytest.raises(InvalidParameterError, match="'metric'"):
        search(None, metric="manhattan")

    with pytest.raises(InvalidParameterError, match="'k'"):

        @validate_params(k=Integer(low=1))
        def bad_default(k=0):
            return k

        bad_default()
    with pytest.raises(TypeError, match="unknown parameters"):
        validate_params(q=Integer())(lambda k: k)


def test_parse_int_is_the_integer_constraint():
    assert parse_int(np.int16(7), "n", "f", low=1) == 7
    with pytest.raises(InvalidParameterError) as info:
        parse_int(True, "n", "f", low=1)
    assert info.value.parameter == "n"


def test_real_bounds_may_be_open_as_closed_says():
    half_open = Real(low=0, high=1, noun="a float", closed="left")
    assert half_open.describe() == "a float in [0, 1)"
    assert half_open.accepts(0) and half_open.accepts(0.999) and not half_open.accepts(1)
    positive = Real(low=0, noun="a float", closed="neither")
    assert positive.describe() == "a float > 0"
    assert positive.accepts(1e-300) and not positive.accepts(0) and not positive.accepts(-1)
    right = Real(low=0, high=1, closed="right")
    assert right.describe() == "a number in (0, 1]"
    assert right.accepts(1) and not right.accepts(0)
    assert Real(high=2, closed="neither").describe() == "a number < 2"


def test_or_none_accepts_none_and_what_its_constraint_accepts():
    rows = OrNone(Integer(low=1))
    assert rows.describe() == "an int >= 1 or None"
    assert rows.accepts(None) and rows.accepts(5) and not rows.accepts(0)
    assert check(None, rows, "max_fit_rows", "fit_projection") is None
    assert type(check(np.int16(7), rows, "max_fit_rows", "fit_projection")) is int
    with pytest.raises(InvalidParameterError, match=r"an int >= 1 or None\. Got 0 instead"):
        check(0, rows, "max_fit_rows", "fit_projection")


def test_validate_params_names_the_function_in_a_call_python_refuses():
    @validate_params(k=Integer(low=1))
    def search(x, k=10):
        return k

    with pytest.raises(TypeError, match=r"search\(\) got an unexpected keyword argument 'bogus'"):
        search(None, bogus=1)
    with pytest.raises(TypeError, match=r"search\(\) too many positional arguments"):
        search(None, 2, 3)
