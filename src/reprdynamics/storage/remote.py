"""Runs at URLs (``s3://bucket/run``): storage options, and errors a person can act on.

Runs at URLs go through Zarr's own fsspec store layer; this module only prepares what is
handed to it and explains what comes back. It parses ``storage_options`` (a mapping, or a
JSON object on the command line), adds fail-fast defaults the user did not choose, and
turns the errors of fsspec, s3fs and botocore (a missing bucket, missing or refused
credentials, an unreachable endpoint) into the errors of :mod:`reprdynamics.errors`, with
messages that name the URL and the problem and never a credential. Credentials come from
the storage options or from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION`` ...); they are never
written into a run.

Like :mod:`reprdynamics.storage.run`, this module imports nothing of ours but
:mod:`reprdynamics.errors`; fsspec and s3fs are imported only when a URL is used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from reprdynamics.errors import (
    BucketNotFoundError,
    InvalidParameterError,
    ReprDynamicsError,
    StorageAccessError,
    StorageError,
    StorageUnreachableError,
    require,
)

__all__ = [
    "OBJECT_STORE_PROTOCOLS",
    "check_bucket",
    "is_url",
    "parse_storage_options",
    "storage_error",
    "zarr_storage_options",
]

#: Protocols whose first path component is a bucket (or container).
OBJECT_STORE_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl")
_S3_PROTOCOLS = ("s3", "s3a")
#: Botocore's retries when neither the options nor the environment choose them: the
#: "standard" mode of the AWS SDKs (it also retries throttling) with its default of three
#: attempts in all, so an unreachable endpoint fails within seconds. (Botocore's own
#: default, "legacy", makes five with longer waits.)
_S3_RETRIES = {"mode": "standard", "total_max_attempts": 3}
#: Packages whose exceptions mean "the object store failed", however they are wrapped.
_REMOTE_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "urllib3", "gcsfs", "adlfs")
_ACCESS_CODES = {
    "403",
    "AccessDenied",
    "AllAccessDisabled",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
}
_SECRET_KEY = re.compile(r"secret|token|password|passwd|credential|sas|key", re.IGNORECASE)


def is_url(location: str) -> bool:
    """Whether ``location`` is a URL for fsspec (``file://`` URLs are local paths)."""
    return "://" in location and not location.startswith("file://")


def _protocol(location: str) -> str:
    return location.split("://", 1)[0].lower()


def parse_storage_options(value: Any, owner: str) -> dict[str, Any] | None:
    """``storage_options`` as a plain ``dict`` (or None): a mapping, or a JSON object string.

    >>> parse_storage_options('{"anon": true}', "open_run")
    {'anon': True}
    >>> parse_storage_options(None, "open_run") is None
    True
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidParameterError(
                f"The 'storage_options' parameter of {owner} must be a JSON object. "
                f"It is not valid JSON: {exc}.",
                parameter="storage_options",
            ) from None
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            f"The 'storage_options' parameter of {owner} must be a mapping (a JSON object). "
            f"Got {type(value).__name__} instead.",
            parameter="storage_options",
        )
    if not all(isinstance(key, str) for key in value):
        raise InvalidParameterError(
            f"The 'storage_options' parameter of {owner} must have string keys.",
            parameter="storage_options",
        )
    return dict(value)


def zarr_storage_options(location: str, storage_options: Mapping[str, Any] | None) -> dict:
    """What is handed to Zarr for ``location``: the user's options plus fail-fast defaults.

    For ``s3://`` (s3fs, imported here so that a missing s3fs gives one install hint) and
    only where the user's options and environment leave them open:

    * botocore's ``retries``: ``{"mode": "standard", "total_max_attempts": 3}`` (skipped
      when ``AWS_RETRY_MODE`` or ``AWS_MAX_ATTEMPTS`` is set);
    * ``use_listings_cache=False``: a run being written by another process (a training
      job, another rank) must show its new arrays; a run lists few directories.

    The endpoint, region and credentials come from the options or, as s3fs and botocore
    read them, from the environment (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
    ``AWS_ACCESS_KEY_ID`` ...).
    """
    options = dict(storage_options or {})
    if _protocol(location) not in _S3_PROTOCOLS:
        return options
    require("s3fs", "s3", f"Reading and writing runs at {_protocol(location)}:// URLs")
    options.setdefault("use_listings_cache", False)
    config = dict(options.get("config_kwargs") or {})
    if (
        "retries" not in config
        and "AWS_RETRY_MODE" not in os.environ
        and "AWS_MAX_ATTEMPTS" not in os.environ
    ):
        config["retries"] = dict(_S3_RETRIES)
        options["config_kwargs"] = config
    return options


def _secrets(options: Any) -> Iterator[str]:
    """String values of keys that may hold a credential, at any depth."""
    if isinstance(options, Mapping):
        for key, value in options.items():
            if isinstance(value, str) and _SECRET_KEY.search(str(key)) and len(value) >= 4:
                yield value
            else:
                yield from _secrets(value)
    elif isinstance(options, list | tuple):
        for value in options:
            yield from _secrets(value)


def redact(text: str, storage_options: Mapping[str, Any] | None) -> str:
    """``text`` with every credential of ``storage_options`` (and the environment) masked.

    >>> redact("key AKIAXYZ, secret s3cr3t!", {"key": "AKIAXYZ", "secret": "s3cr3t!"})
    'key ***, secret ***'
    """
    env = [os.environ.get(name, "") for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
    for secret in sorted({*_secrets(storage_options), *env}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_remote(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _REMOTE_MODULES


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        return None if code is None else str(code)
    return None


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _endpoint(storage_options: Mapping[str, Any] | None) -> str | None:
    client = (storage_options or {}).get("client_kwargs") or {}
    endpoint = (storage_options or {}).get("endpoint_url") or client.get("endpoint_url")
    return endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _reason(exc: BaseException, storage_options: Mapping[str, Any] | None) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact(text.rstrip("."), storage_options)


def storage_error(
    exc: BaseException,
    location: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> StorageError | None:
    """The :class:`~reprdynamics.errors.StorageError` that explains ``exc``, or None.

    None when ``exc`` (and what it wraps) is not a failure of a remote store, or is one of
    ours already. ``location`` is named in the message when given.
    """
    if isinstance(exc, ReprDynamicsError):
        return exc if isinstance(exc, StorageError) else None
    chain = _chain(exc)
    if not any(_is_remote(e) for e in chain):
        return None
    if isinstance(exc, FileNotFoundError) and "NoSuchBucket" not in map(_error_code, chain):
        return None  # a missing object: the caller says what is missing
    where = f" at {location!r}" if location else ""
    target = f" for {location!r}" if location else ""
    for e in chain:
        names, code = _names(e), _error_code(e)
        if names & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
            return StorageAccessError(
                f"No credentials for the object store{where}: {_reason(e, storage_options)}. "
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass storage_options "
                "with 'key' and 'secret' (--storage-options on the command line)."
            )
        if code in _ACCESS_CODES:
            # A HEAD request's 403 has no body: its code is the status, its message "Forbidden".
            detail = "HTTP 403" if code == "403" else f"{code}: {_reason(e, storage_options)}"
            return StorageAccessError(
                f"The object store refused access{where} ({detail}). Check the "
                "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or storage_options "
                "'key' / 'secret') and that they may use this bucket."
            )
        if code == "NoSuchBucket":
            return BucketNotFoundError(f"The bucket{where} does not exist.")
        if names & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
            "ProxyConnectionError",
            "ClientConnectorError",
            "ServerDisconnectedError",
        }:
            endpoint = _endpoint(storage_options)
            at = f" at {redact(endpoint, storage_options)!r}" if endpoint else ""
            return StorageUnreachableError(
                f"Cannot reach the object store{at}{target}: "
                f"{_reason(e, storage_options)}. Check the endpoint URL "
                "(AWS_ENDPOINT_URL or storage_options client_kwargs.endpoint_url) and the "
                "network."
            )
    for e in chain:
        if isinstance(e, PermissionError):
            return StorageAccessError(
                f"The object store refused access{where}: {_reason(e, storage_options)}."
            )
    first = chain[0]
    return StorageError(
        f"The object store failed{where}: {type(first).__name__}: "
        f"{_reason(first, storage_options)}."
    )


def check_bucket(location: str, storage_options: Mapping[str, Any] | None) -> None:
    """Raise :class:`~reprdynamics.errors.BucketNotFoundError` when the URL's bucket is absent.

    Only for object stores (``s3://``, ``gs://``, ``az://`` ...); quiet where the answer
    is unknown (e.g. the credentials may use objects but not look at the bucket), and a
    :class:`~reprdynamics.errors.StorageError` where the store cannot be asked at all.
    """
    if _protocol(location) not in OBJECT_STORE_PROTOCOLS:
        return
    import fsspec

    options = zarr_storage_options(location, storage_options)
    bucket = location.split("://", 1)[1].split("/", 1)[0]
    if not bucket:
        return
    try:
        fs, _ = fsspec.core.url_to_fs(location, **options)
        fs.info(bucket)
    except FileNotFoundError:
        raise BucketNotFoundError(
            f"The bucket {bucket!r} of {location!r} does not exist"
            f"{_at_endpoint(storage_options)}. Create it first, or check the URL."
        ) from None
    except PermissionError:
        return
    except Exception as exc:
        error = storage_error(exc, location, storage_options)
        if error is None or isinstance(error, StorageAccessError):
            return
        raise error from exc


def _at_endpoint(storage_options: Mapping[str, Any] | None) -> str:
    endpoint = _endpoint(storage_options)
    return f" (endpoint {redact(endpoint, storage_options)})" if endpoint else ""
