"""Parameter constraints, declared once: what a parameter must be, checked at the public edge.

A constraint says what it accepts and how to say it in the one message template of
:func:`~reprdynamics.errors.invalid_parameter` ("The 'k' parameter of fingerprint must be
an int in [1, 15]. Got 0 instead."). Check one value with :func:`check`, or declare a
function's constraints with :func:`validate_params` (scikit-learn's ``Interval`` /
``StrOptions`` and ``validate_params`` are the model)::

    @validate_params(k=Integer(low=1), metric=Options(("euclidean", "cosine")))
    def search(X, k=10, metric="euclidean"): ...

The error carries the parameter's name (``InvalidParameterError.parameter``), which the
server answers with, so nothing has to read it back out of the message.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from reprdynamics.errors import invalid_parameter

__all__ = [
    "Constraint",
    "Integer",
    "Options",
    "OrNone",
    "Real",
    "check",
    "validate_params",
]

F = TypeVar("F", bound=Callable[..., Any])
Closed = Literal["both", "left", "right", "neither"]


class Constraint:
    """What a parameter must be."""

    def describe(self) -> str:  # pragma: no cover - every constraint says it
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:  # pragma: no cover
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """The value as the function uses it (e.g. a NumPy integer as an ``int``)."""
        return value


def _bounds(low: Any, high: Any, high_name: str | None, noun: str, closed: Closed = "both") -> str:
    high_text = high if high_name is None else f"{high_name}={high}"
    low_closed, high_closed = closed in ("both", "left"), closed in ("both", "right")
    if low is not None and high is not None:
        return (
            f"{noun} in {'[' if low_closed else '('}{low}, {high_text}{']' if high_closed else ')'}"
        )
    if low is not None:
        return f"{noun} {'>=' if low_closed else '>'} {low}"
    if high is not None:
        return f"{noun} {'<=' if high_closed else '<'} {high_text}"
    return noun


def _within(value: Any, low: Any, high: Any, closed: Closed = "both") -> bool:
    """Whether ``value`` lies between ``low`` and ``high`` (a bound of None being no bound),
    each bound included as ``closed`` says."""
    low_closed, high_closed = closed in ("both", "left"), closed in ("both", "right")
    above = low is None or (value >= low if low_closed else value > low)
    below = high is None or (value <= high if high_closed else value < high)
    return bool(above and below)


@dataclass(frozen=True)
class Integer(Constraint):
    """A whole number (not a bool: ``True`` is never a count to a user) in ``[low, high]``.

    ``high_name`` names the upper bound in the message ("an int in [1, n-1=4]").
    """

    low: int | None = None
    high: int | None = None
    high_name: str | None = None

    def describe(self) -> str:
        return _bounds(self.low, self.high, self.high_name, "an int")

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return False
        return _within(value, self.low, self.high)

    def convert(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True)
class Real(Constraint):
    """A real number (not a bool, not NaN) between ``low`` and ``high``, called ``noun`` in
    messages; ``closed`` says which bounds belong (scikit-learn's ``Interval``: "both",
    "left", "right", "neither"); finite unless ``finite=False`` (then ``inf`` passes a
    lower bound)."""

    low: float | None = None
    high: float | None = None
    noun: str = "a number"
    finite: bool = True
    closed: Closed = "both"

    def describe(self) -> str:
        return _bounds(self.low, self.high, None, self.noun, self.closed)

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        number = float(value)
        if math.isnan(number) or (self.finite and not math.isfinite(number)):
            return False
        return _within(number, self.low, self.high, self.closed)

    def convert(self, value: Any) -> float:
        return float(value)


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def describe(self) -> str:
        return f"one of {list(self.values)}"

    def accepts(self, value: Any) -> bool:
        try:
            return bool(value in self.values)
        except (TypeError, ValueError):  # unhashable, incomparable, an array: not one of them
            return False


@dataclass(frozen=True)
class OrNone(Constraint):
    """``None`` (the parameter's "not given"), or what ``constraint`` accepts."""

    constraint: Constraint

    def describe(self) -> str:
        return f"{self.constraint.describe()} or None"

    def accepts(self, value: Any) -> bool:
        return value is None or self.constraint.accepts(value)

    def convert(self, value: Any) -> Any:
        return None if value is None else self.constraint.convert(value)


def check(value: Any, constraint: Constraint, name: str, owner: str) -> Any:
    """``value`` converted by ``constraint``, or the parameter error naming ``name``.

    >>> check(3, Integer(low=1), "k", "fingerprint")
    3
    >>> check(0, Integer(low=1, high=15), "k", "fingerprint")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reprdynamics.errors.InvalidParameterError: The 'k' ... an int in [1, 15]. Got 0 instead.
    """
    if not constraint.accepts(value):
        raise invalid_parameter(name, owner, constraint.describe(), value)
    return constraint.convert(value)


def validate_params(**constraints: Constraint) -> Callable[[F], F]:
    """Check the named parameters of every call against their constraints.

    A parameter left at its default is checked too (a default is a value the function
    must accept). Converted values replace the given ones.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"validate_params names unknown parameters {sorted(unknown)}")
        owner = func.__qualname__

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:  # as Python says it, with the function's name
                raise TypeError(f"{owner}() {exc}") from None
            bound.apply_defaults()
            for name, constraint in constraints.items():
                bound.arguments[name] = check(bound.arguments[name], constraint, name, owner)
            return func(*bound.args, **bound.kwargs)

        checked.__signature__ = signature  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate
