"""The one error root of faas.

Every error a user can cause or see is a `FaasError` carrying Lambda's error code and the
HTTP status the API answers with. They are translated to HTTP only at the edge (gateway
middleware) and to exit codes only in the CLI.
"""

from __future__ import annotations


class FaasError(Exception):
    """Root of every platform error; `code` is Lambda's error code (x-amzn-ErrorType)."""

    code = "ServiceException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterValue(FaasError):
    code = "InvalidParameterValueException"
    status = 400


class ValidationError(FaasError):
    """A request member outside its model's constraints, as Lambda's front end words it."""

    code = "ValidationException"
    status = 400


class InvalidRequestContent(FaasError):
    code = "InvalidRequestContentException"
    status = 400


class ResourceNotFound(FaasError):
    code = "ResourceNotFoundException"
    status = 404


class UnknownOperation(FaasError):
    """A Lambda API operation (or a path and method) the gateway does not serve."""

    code = "UnknownOperationException"
    status = 404


class ProvisionedConcurrencyConfigNotFound(ResourceNotFound):
    """GetProvisionedConcurrencyConfig of a function that has none (Lambda's own 404 code)."""

    code = "ProvisionedConcurrencyConfigNotFoundException"


class MissingAuthenticationToken(FaasError):
    """No signature, or one too malformed to read."""

    code = "MissingAuthenticationTokenException"
    status = 403


class UnrecognizedClient(FaasError):
    """The access key id is not one faas knows (never made, deleted or rotated away)."""

    code = "UnrecognizedClientException"
    status = 403


class ExpiredToken(FaasError):
    """Temporary credentials past their expiry."""

    code = "ExpiredTokenException"
    status = 403


class InvalidSignature(FaasError):
    """The signature does not verify: wrong secret, changed request, or a clock too far off."""

    code = "InvalidSignatureException"
    status = 403


class AccessDenied(FaasError):
    """A verified caller whose policy does not allow the action on the resource."""

    code = "AccessDeniedException"
    status = 403


class ResourceConflict(FaasError):
    code = "ResourceConflictException"
    status = 409


class PreconditionFailed(FaasError):
    code = "PreconditionFailedException"
    status = 412


class RequestTooLarge(FaasError):
    code = "RequestTooLargeException"
    status = 413


class UnsupportedMediaType(FaasError):
    code = "UnsupportedMediaTypeException"
    status = 415


class TooManyRequests(FaasError):
    """Throttled: `reason` is Lambda's Reason field; `retry_after_s` feeds Retry-After."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class ServiceError(FaasError):
    code = "ServiceException"
    status = 500


class ServiceUnavailable(FaasError):
    """The platform is shutting down or cannot start a worker right now."""

    code = "ServiceException"
    status = 503


class DiskFull(ServiceUnavailable):
    """The data directory's filesystem is full: new work that must be written there (a
    record, a queued event, a deploy) is refused until space returns; nothing is lost."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"No space left on the data directory's filesystem: {what} could not be written. "
            "Free space there; the service resumes by itself."
        )


# errno values of a full filesystem or quota, and SQLite's SQLITE_FULL result code.
_DISK_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT
_SQLITE_FULL = 13


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error`, or an error it wraps (a database driver's, SQLAlchemy's `orig`, or
    its cause), says the disk is full."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            return True
        if getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        wrapped = getattr(error, "orig", None)
        error = wrapped if isinstance(wrapped, BaseException) else error.__cause__
        seen += 1
    return False
