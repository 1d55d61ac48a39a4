"""A client for the ML registry's ``/api/v1`` and the ``registry`` command line."""

from ._http import RetryPolicy
from .attestations import Verification, verify_envelope
from .client import Page, RegistryClient
from .errors import (
    ApiError,
    Conflict,
    DigestMismatch,
    ErrorDetail,
    Forbidden,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    RegistryError,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    VerificationFailed,
)
from .version import SUPPORTED_API_VERSIONS, __version__

__all__ = [
    "SUPPORTED_API_VERSIONS",
    "ApiError",
    "Conflict",
    "DigestMismatch",
    "ErrorDetail",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidRequest",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RateLimited",
    "RegistryClient",
    "RegistryError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "Verification",
    "VerificationFailed",
    "__version__",
    "verify_envelope",
]
