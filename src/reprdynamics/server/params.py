"""A request's parameters, read and checked by type and bounds (:class:`Params`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from reprdynamics.server.api_errors import ApiError, bad_parameter
from reprdynamics.server.id_lists import parse_selection
from reprdynamics.validation import Integer, Real


# --------------------------------------------------------------------------- parameters
class Params:
    """Request parameters (query string, then a JSON body for POST) parsed by name.

    Every getter returns the default when the parameter is absent (or ``null`` in a body)
    and raises :class:`ApiError` (400) naming the parameter when it is malformed. A
    parameter given empty (``k=``) is malformed, not absent. Query values are text; body
    values must have their JSON type (``{"k": 5}``, not ``{"k": "5"}``), as the OpenAPI
    states.
    """

    def __init__(
        self,
        query: Mapping[str, Any],
        body: Mapping[str, Any] | None = None,
        *,
        selections: Any = None,
    ) -> None:
        self._values: dict[str, Any] = {k: v for k, v in query.items()}
        self._from_body: frozenset[str] = frozenset(body or ())
        if body:
            self._values.update(body)
        # Resolves "sel:<token>" selections (a SelectionRegistry); None: tokens are refused.
        self._selections = selections

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        value = self._values.get(name)
        return value is not None and value != ""

    def _text_value(self, name: str, value: Any) -> bool:
        """Whether ``value`` is query text to parse (a string in a body is not a number)."""
        return isinstance(value, str) and name not in self._from_body

    def _typed(self, name: str, expected: str) -> str:
        """``expected``, saying so when a body gave a string for a number or boolean."""
        if name in self._from_body and isinstance(self._values.get(name), str):
            return f"{expected} (in a JSON body, a JSON value, not a string)"
        return expected

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self._values.get(name)
        if value is None:
            if required:
                raise ApiError(400, f"The {name!r} parameter is required.", parameter=name)
            return default
        expected = self._typed(name, Integer(low, high).describe())
        if isinstance(value, float) and value.is_integer():  # JSON 5.0 is the integer 5
            value = int(value)
        if self._text_value(name, value):
            text = value.strip()
            try:
                if not text.lstrip("+-").isdigit() or not text.isascii():
                    raise ValueError(text)
                value = int(text)  # ValueError too beyond 4300 digits
            except ValueError:
                raise bad_parameter(name, expected, value) from None
        if not isinstance(value, int) or not Integer(low, high).accepts(value):
            raise bad_parameter(name, expected, value)
        return value

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
    ) -> float | None:
        value = self._values.get(name)
        if value is None:
            return default
        constraint = Real(low, high, closed="right" if low_open else "both")
        expected = self._typed(name, constraint.describe())
        if isinstance(value, bool) or not (
            self._text_value(name, value) or isinstance(value, int | float)
        ):
            raise bad_parameter(name, expected, value)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad_parameter(name, expected, value) from None
        if not constraint.accepts(number):
            raise bad_parameter(name, expected, value)
        return number

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if self._text_value(name, value) and value in ("true", "false"):
            return value == "true"
        raise bad_parameter(name, self._typed(name, "true or false"), value)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise bad_parameter(name, "a non-empty string", value)
        return value

    def choice(self, name: str, choices: tuple[str, ...] | list[str], default: str) -> str:
        value = self.text(name, default)
        assert value is not None
        normalised = value.strip().lower().replace("_", "-")
        if normalised not in choices:
            raise bad_parameter(name, f"one of {list(choices)}", value)
        return normalised

    def selection(self, name: str, n_samples: int) -> np.ndarray | None:
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith("sel:"):
            if self._selections is None:
                raise bad_parameter(name, "ids and ranges (no registered selections here)", value)
            return self._selections.resolve(value.strip(), n_samples, name)
        return parse_selection(value, n_samples, name)
