"""The HTTP errors of the API: a status, a message in the one template, the parameter."""

from __future__ import annotations

from typing import Any

from reprdynamics.errors import (
    CorruptRunError,
    LabelsRequiredError,
    LayerNotFoundError,
    NotEnoughSnapshotsError,
    ReprDynamicsError,
    RunNotFoundError,
    StorageError,
    UnknownSampleError,
    UnsupportedFormatVersionError,
)
from reprdynamics.storage.remote import storage_error


class ApiError(Exception):
    """An error the HTTP API answers with ``{"error": message, "status": status}``.

    ``parameter`` names the offending request parameter when there is one; ``headers`` are
    sent with the answer (``Retry-After`` of a full job queue).
    """

    def __init__(self, status: int, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.parameter = parameter

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        return body


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def bad_parameter(name: str, expected: str, got: Any, *, status: int = 400) -> ApiError:
    """The one message template: "The 'k' parameter must be ... Got 0 instead."."""
    return ApiError(
        status,
        f"The {name!r} parameter must be {expected}. Got {_shown(got)} instead.",
        parameter=name,
    )


def api_error(exc: BaseException) -> ApiError | None:
    """The HTTP answer to an error of ours, or None for an unexpected one (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    message = str(exc)
    if isinstance(exc, RunNotFoundError):
        return ApiError(404, message, parameter="run")
    if isinstance(exc, StorageError):  # the object store behind the run failed
        return ApiError(502, message, parameter="run")
    if isinstance(exc, LayerNotFoundError):
        return ApiError(400, message, parameter="layer")
    if isinstance(exc, UnknownSampleError):
        return ApiError(400, message, parameter="samples")
    if isinstance(exc, NotEnoughSnapshotsError | LabelsRequiredError):
        return ApiError(422, message)
    if isinstance(exc, CorruptRunError | UnsupportedFormatVersionError):
        return ApiError(422, message, parameter="run")
    if isinstance(exc, ReprDynamicsError):
        return ApiError(400, message, parameter=getattr(exc, "parameter", None))
    storage = storage_error(exc)
    if storage is not None:
        return ApiError(502, str(storage), parameter="run")
    return None
