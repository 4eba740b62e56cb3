"""One error hierarchy for ReprDynamics.

Every error is also the builtin a caller would expect (``FileNotFoundError``,
``ValueError``, ``KeyError`` ...), so ``except ValueError`` keeps working for code that
does not know about this package.
"""

from __future__ import annotations

__all__ = [
    "AnalysisTaskError",
    "BucketNotFoundError",
    "CorruptRunError",
    "DependencyMissingError",
    "IncompleteSnapshotWarning",
    "InvalidParameterError",
    "LabelsRequiredError",
    "LayerNotFoundError",
    "NotEnoughSnapshotsError",
    "RecordingError",
    "ReprDynamicsError",
    "RunExistsError",
    "RunNotFoundError",
    "SchedulerError",
    "StorageAccessError",
    "StorageError",
    "StorageUnreachableError",
    "UnknownSampleError",
    "UnsupportedFormatVersionError",
    "parse_int",
]


class ReprDynamicsError(Exception):
    """Base class of every error raised by ReprDynamics."""


class RunNotFoundError(ReprDynamicsError, FileNotFoundError):
    """No run (Zarr group written by ReprDynamics) exists at the given location."""


class RunExistsError(ReprDynamicsError, FileExistsError):
    """A run already exists where a new one was to be created."""


class StorageError(ReprDynamicsError, OSError):
    """The store behind a URL (``s3://...``) failed: unreachable, refusing access, or missing.

    Messages name the URL and the problem, never a credential.
    """


class StorageAccessError(StorageError, PermissionError):
    """The object store refused access: credentials missing, invalid or not allowed."""


class StorageUnreachableError(StorageError, ConnectionError):
    """The object store's endpoint could not be reached (wrong address, network down)."""


class BucketNotFoundError(RunNotFoundError, StorageError):
    """The bucket (or container) named in a URL does not exist."""


class CorruptRunError(ReprDynamicsError, ValueError):
    """A run's metadata or arrays are inconsistent or unreadable."""


class UnsupportedFormatVersionError(ReprDynamicsError, ValueError):
    """The run was written in a format version this release cannot read."""


class LayerNotFoundError(ReprDynamicsError, KeyError):
    """A layer name that the run does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnknownSampleError(ReprDynamicsError, IndexError):
    """Sample ids outside ``[0, n_samples)`` or otherwise unknown."""


class RecordingError(ReprDynamicsError, ValueError):
    """A batch handed to the recorder cannot be stored (shape, ids, values, order)."""


class IncompleteSnapshotWarning(UserWarning):
    """A snapshot ended before every sample was recorded."""


class InvalidParameterError(ReprDynamicsError, ValueError):
    """A parameter of a public function has an invalid type or value.

    ``parameter`` names it (None when the problem is not one parameter's), so callers (the
    server's error answers) need not read it out of the message.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class NotEnoughSnapshotsError(ReprDynamicsError, ValueError):
    """An analysis needs more complete snapshots than the run holds."""


class LabelsRequiredError(ReprDynamicsError, ValueError):
    """A measure needs labels and the run has none."""


class DependencyMissingError(ReprDynamicsError, ImportError):
    """An optional dependency is needed for this feature and is not installed."""


class AnalysisTaskError(ReprDynamicsError, RuntimeError):
    """An analysis task failed on a worker (the message names the snapshot); nothing cached.

    ``task`` describes the task that failed ("snapshot 3 of layer 'logits'"), when known.
    """

    def __init__(self, message: str, *, task: str | None = None) -> None:
        super().__init__(message)
        self.task = task


class SchedulerError(ReprDynamicsError, ConnectionError):
    """The Dask scheduler named by ``scheduler=`` / ``--scheduler`` cannot be reached."""


def invalid_parameter(name: str, owner: str, expected: str, got: object) -> InvalidParameterError:
    """Build the one error message template used across the package.

    >>> str(invalid_parameter("k", "fingerprint", "an int in [1, 15]", 0))
    "The 'k' parameter of fingerprint must be an int in [1, 15]. Got 0 instead."
    """
    return InvalidParameterError(
        f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead.",
        parameter=name,
    )


def parse_int(
    value: object, name: str, owner: str, *, low: int | None = None, high: int | None = None
) -> int:
    """``value`` as an ``int`` in ``[low, high]``, or the standard parameter error.

    Booleans are refused (``True`` is an ``int`` to Python, never a count to a user).

    >>> parse_int(3, "k", "fingerprint", low=1)
    3
    >>> parse_int(True, "k", "fingerprint", low=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reprdynamics.errors.InvalidParameterError: The 'k' parameter ... Got True instead.
    """
    from reprdynamics.validation import Integer, check

    return check(value, Integer(low=low, high=high), name, owner)


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or raise an error with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised when the extra is missing
        raise DependencyMissingError(
            f"{feature} needs the optional dependency {module!r}, which is not installed. "
            f"Install it with: pip install 'reprdynamics[{extra}]'"
        ) from exc
