"""TikTok API errors and the one rule that classifies an answer (docs/tiktok-api.md §1.4).

::

    TikstreamError
    └── TikTokError                   code, message, request_id, endpoint, http_status, attempts
        ├── RetryableError            transient; the client retried it and ran out of attempts or time
        │   ├── ThrottledError        40100, 40016, 40132, 40133, 61000 or HTTP 429; slows the rate limiter
        │   ├── TransportError        timeout (``kind="timeout"``) or connection failure; no answer at all
        │   └── AudienceBusyError     40002 "being updated / under processing": raised at once, poll and retry
        ├── ReauthorizeError          40102, 40104, 40105, 40106: the token is expired, empty, invalid or
        │                             does not match the advertiser; raised at once, never retried
        └── PermanentError            will fail the same way again (bad input, HTTP 404 ...);
            ├── PermissionDeniedError 40001, 40113, 40118, 40119, 40124, 40125, 40130: the token may not do
            │                         this (pixel, app, event set or advertiser not covered)
            └── AudienceTooSmallError 40002 "fewer than 1000 members/matches"; raised at once

Every error names the endpoint (the path below the base URL, e.g. ``event/track/``), never the access token or
the app secret: messages TikTok sends back are scrubbed of them by the client before an error is built.
"""

from __future__ import annotations

import enum
import re
from typing import Final, Literal

from tikstream.errors import TikstreamError

__all__ = [
    "PERMISSION_CODES",
    "REAUTHORIZE_CODES",
    "THROTTLING_CODES",
    "AudienceBusyError",
    "AudienceTooSmallError",
    "ErrorClass",
    "PermanentError",
    "PermissionDeniedError",
    "ReauthorizeError",
    "RetryableError",
    "ThrottledError",
    "TikTokError",
    "TransportError",
    "classify",
]

OK_CODE: Final = 0
PARTIAL_CODE: Final = 20001
INVALID_PARAMS_CODE: Final = 40002
THROTTLING_CODES: Final = frozenset({40016, 40100, 40132, 40133, 61000})
REAUTHORIZE_CODES: Final = frozenset({40102, 40104, 40105, 40106})
PERMISSION_CODES: Final = frozenset({40001, 40113, 40118, 40119, 40124, 40125, 40130})
"""Codes that mean "this token may not do this" (docs/tiktok-api.md §1.4): no retry, no use splitting a batch;
an events job pauses until its authorization changes."""
_TRANSIENT_CODES: Final = frozenset({40201, 40202, 60001})

_BUSY = re.compile(r"processing|being updated", re.IGNORECASE)
_THOUSAND = re.compile(r"(?<![\d,.])1,?000(?![\d,])")
_MEMBERS = re.compile(r"member|match|user|size", re.IGNORECASE)


class ErrorClass(enum.Enum):
    """What an answer means for the caller."""

    OK = "ok"
    PARTIAL = "partial"  # 20001: accepted, but log the message
    THROTTLED = "throttled"  # retry with backoff, and slow down
    RETRYABLE = "retryable"  # retry with backoff
    REAUTHORIZE = "reauthorize"  # stop; the token must be replaced
    PERMANENT = "permanent"  # do not retry
    PERMISSION = "permission"  # do not retry: the token does not cover this pixel, app, event set or advertiser
    AUDIENCE_BUSY = "audience_busy"  # 40002 while the audience is processing: retry later, not now
    AUDIENCE_TOO_SMALL = "audience_too_small"  # 40002: the audience would fall under 1000 members


def classify(code: int | None, http_status: int | None, message: str = "") -> ErrorClass:
    """Classify one answer: ``code`` (None when the body held no envelope) and the HTTP status.

    HTTP 5xx is retryable whatever the body says; HTTP 404 is a path bug (permanent); HTTP 408 is retryable
    and HTTP 429 throttled. Otherwise the envelope ``code`` decides; a 2xx answer without an envelope is
    treated as retryable (a proxy or a cut-off body), a 4xx answer without one, or with a success code, as
    permanent.
    """
    if http_status is not None:
        if http_status >= 500:
            return ErrorClass.RETRYABLE
        if http_status == 404:
            return ErrorClass.PERMANENT
        if http_status == 429:
            return ErrorClass.THROTTLED
        if http_status == 408:
            return ErrorClass.RETRYABLE
    is_client_error = http_status is not None and 400 <= http_status < 500
    if code is None:
        return ErrorClass.PERMANENT if is_client_error else ErrorClass.RETRYABLE
    kind = _classify_code(code, message)
    if is_client_error and kind in (ErrorClass.OK, ErrorClass.PARTIAL):
        return ErrorClass.PERMANENT  # an HTTP error with a success code: trust neither
    return kind


def _classify_code(code: int, message: str) -> ErrorClass:
    if code == OK_CODE:
        return ErrorClass.OK
    if code == PARTIAL_CODE:
        return ErrorClass.PARTIAL
    if code in THROTTLING_CODES:
        return ErrorClass.THROTTLED
    if code in _TRANSIENT_CODES or 50000 <= code <= 59999:
        return ErrorClass.RETRYABLE
    if code in REAUTHORIZE_CODES:
        return ErrorClass.REAUTHORIZE
    if code in PERMISSION_CODES:
        return ErrorClass.PERMISSION
    if code == INVALID_PARAMS_CODE:
        if _BUSY.search(message):
            return ErrorClass.AUDIENCE_BUSY
        if _THOUSAND.search(message) and _MEMBERS.search(message):
            return ErrorClass.AUDIENCE_TOO_SMALL
    return ErrorClass.PERMANENT


class TikTokError(TikstreamError):
    """A TikTok API call that failed. Carries what a support ticket needs, never a credential."""

    outcome: str = "error"  # the ``outcome`` label of tiktok_requests_total for this error

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        code: int | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        parts = [f"code={self.code}" if self.code is not None else None,
                 f"http={self.http_status}" if self.http_status is not None else None,
                 f"request_id={self.request_id}" if self.request_id else None,
                 f"attempts={self.attempts}" if self.attempts > 1 else None]
        detail = ", ".join(p for p in parts if p)
        return f"{self.endpoint}: {self.message}" + (f" ({detail})" if detail else "")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(endpoint={self.endpoint!r}, code={self.code!r}, "
                f"message={self.message!r}, request_id={self.request_id!r}, "
                f"http_status={self.http_status!r}, attempts={self.attempts!r})")


class RetryableError(TikTokError):
    """A transient failure. Raised by the client only after its retry policy ran out."""

    outcome = "retryable"


class ThrottledError(RetryableError):
    """TikTok said "too many requests" (a throttling code or HTTP 429)."""


class TransportError(RetryableError):
    """No answer: the request timed out or the connection failed. ``code`` and ``http_status`` are None."""

    def __init__(self, message: str, *, endpoint: str, kind: Literal["timeout", "connection"],
                 attempts: int = 1) -> None:
        super().__init__(message, endpoint=endpoint, attempts=attempts)
        self.kind = kind
        self.outcome = kind


class AudienceBusyError(RetryableError):
    """40002: the audience is being updated or processed. Not retried by the client; poll and retry later."""


class ReauthorizeError(TikTokError):
    """The access token is expired, missing, invalid or not valid for this advertiser; ask for a new one."""

    outcome = "reauthorize"


class PermanentError(TikTokError):
    """The same request will fail again: fix the input, the config or the code."""

    outcome = "permanent"


class PermissionDeniedError(PermanentError):
    """The token may not do this (``PERMISSION_CODES``): the pixel, app, event set or advertiser is not covered."""


class AudienceTooSmallError(PermanentError):
    """40002: the operation would leave the audience with fewer than 1,000 members or matches."""


ERROR_TYPES: Final[dict[ErrorClass, type[TikTokError]]] = {
    ErrorClass.THROTTLED: ThrottledError,
    ErrorClass.RETRYABLE: RetryableError,
    ErrorClass.REAUTHORIZE: ReauthorizeError,
    ErrorClass.PERMANENT: PermanentError,
    ErrorClass.PERMISSION: PermissionDeniedError,
    ErrorClass.AUDIENCE_BUSY: AudienceBusyError,
    ErrorClass.AUDIENCE_TOO_SMALL: AudienceTooSmallError,
}
