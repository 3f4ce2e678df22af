"""One TikTok call: rate limit, send, parse the envelope, classify, retry (the machinery of the client).

A ``Call`` describes a request without the HTTP library; ``Caller.call`` turns it into attempts. Each attempt
waits for the rate limiter, sends, reads the envelope, and either returns it (code 0, or 20001 logged as a
partial success) or raises the ``TikTokError`` its class calls for. Retryable errors are retried per the
``RetryPolicy``; throttling also slows the limiter for that token. ``ReauthorizeError``, ``PermanentError``
(and ``AudienceTooSmallError``) and ``AudienceBusyError`` are raised at once.

Credentials: the token travels only in the ``Access-Token`` header; every text that comes back from TikTok or
from httpx is scrubbed of the call's secrets before it reaches an error, a log line or a metric label.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from tikstream.metrics import Metrics
from tikstream.tiktok.errors import (
    ERROR_TYPES,
    AudienceBusyError,
    ErrorClass,
    PermanentError,
    RetryableError,
    ThrottledError,
    TikTokError,
    TransportError,
    classify,
)
from tikstream.tiktok.models import Envelope, MalformedEnvelope, parse_envelope
from tikstream.tiktok.ratelimit import RateLimiter
from tikstream.tiktok.retry import Backoff, RetryPolicy

__all__ = ["Call", "Caller", "FilePart", "RedactQueryFilter", "install_log_redaction", "scrub",
           "token_fingerprint"]

log = logging.getLogger(__name__)
_HEADER_SAFE = re.compile(r"[\x21-\x7e]*")  # visible ASCII: TikTok tokens are hex


def token_fingerprint(token: str) -> str:
    """A short stable name for a token that reveals nothing about it (limiter keys, log fields)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True, slots=True)
class FilePart:
    """The ``file`` field of a multipart upload: bytes in memory, or a path opened anew for every attempt."""

    filename: str
    source: bytes | Path
    content_type: str = "text/plain"

    @contextlib.contextmanager
    def open(self) -> Iterator[object]:
        if isinstance(self.source, bytes):
            yield self.source
        else:
            with self.source.open("rb") as fh:
                yield fh


@dataclass(frozen=True, slots=True)
class Call:
    """A request to one endpoint (a path relative to the base URL, ending in ``/``)."""

    method: Literal["GET", "POST"]
    endpoint: str
    limit_key: str
    token: str | None = None
    params: Mapping[str, str] | None = None
    json: bytes | None = None
    form: Mapping[str, str] | None = None
    file: FilePart | None = None
    secrets: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.endpoint.endswith("/") or self.endpoint.startswith("/"):
            raise ValueError("an endpoint is relative to the base URL and ends in '/'")


def _retry_kind(exc: RetryableError) -> str:
    """Which delay a retryable failure gets (``tikstream.tiktok.retry``): throttled, server error, other."""
    if isinstance(exc, ThrottledError):
        return "throttled"
    if isinstance(exc, TransportError):
        return "other"
    if (exc.http_status or 0) >= 500 or 50000 <= (exc.code or 0) < 60000:
        return "server"
    return "other"


class Caller:
    """Sends ``Call``s through one pooled ``httpx.Client``. Thread-safe."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        metrics: Metrics | None,
        retry: RetryPolicy,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._http = http
        self._metrics = metrics
        self._retry = retry
        self._limiter = limiter
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.closing = threading.Event()
        """Set by the client's ``close``: a retry waiting out its backoff gives up at once (shutdown must not
        wait for a TikTok outage to end)."""

    def _wait(self, backoff: Backoff, delay: float) -> bool:
        """Wait out a retry's backoff; False when the client is closing."""
        if self._sleep is time.sleep:  # the real clock: an interruptible wait
            return not self.closing.wait(max(0.0, delay))
        backoff.sleep(delay)  # a test's sleep
        return not self.closing.is_set()

    def call(self, call: Call) -> Envelope:
        """Send ``call`` until it succeeds, fails for good, or the retry policy is spent."""
        backoff = Backoff(self._retry, clock=self._clock, sleep=self._sleep, rand=self._rand)
        while True:
            attempt = backoff.start_attempt()
            try:
                return self._attempt(call)
            except AudienceBusyError as exc:
                exc.attempts = attempt
                raise
            except RetryableError as exc:
                exc.attempts = attempt
                delay = backoff.next_delay(_retry_kind(exc))
                if delay is None:
                    log.warning("tiktok %s: giving up after %d attempts: %s", call.endpoint, attempt, exc,
                                extra={"endpoint": call.endpoint, "attempts": attempt, "code": exc.code})
                    raise
                reason = "throttled" if isinstance(exc, ThrottledError) else exc.outcome
                if self._metrics is not None:
                    self._metrics.tiktok_retries_total.labels(call.endpoint, reason).inc()
                log.info("tiktok %s: attempt %d failed (%s), retrying in %.3fs", call.endpoint, attempt, exc,
                         delay, extra={"endpoint": call.endpoint, "attempt": attempt, "reason": reason,
                                       "code": exc.code, "request_id": exc.request_id})
                if not self._wait(backoff, delay):
                    raise TransportError("the client is closing; not retried", endpoint=call.endpoint,
                                         kind="connection", attempts=attempt) from exc
            except TikTokError as exc:
                exc.attempts = attempt
                raise

    def _attempt(self, call: Call) -> Envelope:
        self._limiter.acquire(call.limit_key)
        started = self._clock()
        try:
            response = self._send(call)
        finally:
            if self._metrics is not None:
                self._metrics.tiktok_request_duration_seconds.labels(call.endpoint).observe(
                    max(0.0, self._clock() - started))
        return self._judge(call, response)

    def _send(self, call: Call) -> httpx.Response:
        with contextlib.ExitStack() as stack:
            try:
                request = self._build(call, stack)
            except (httpx.HTTPError, ValueError) as exc:  # e.g. a token that is not a valid header value
                raise self._count(PermanentError(f"cannot build the request ({type(exc).__name__})",
                                                 endpoint=call.endpoint), call) from None
            try:
                return self._http.send(request)
            except httpx.TimeoutException as exc:
                error: TikTokError = TransportError(self._describe(exc, call), endpoint=call.endpoint,
                                                    kind="timeout")
            except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
                error = TransportError(self._describe(exc, call), endpoint=call.endpoint, kind="connection")
            except httpx.HTTPError as exc:  # unsupported protocol, decoding, ...: a bug or a bad setting
                error = PermanentError(f"request failed ({type(exc).__name__})", endpoint=call.endpoint)
            raise self._count(error, call) from None

    def _build(self, call: Call, stack: contextlib.ExitStack) -> httpx.Request:
        if call.token is not None and not _HEADER_SAFE.fullmatch(call.token):
            raise ValueError("the access token is not a valid header value")
        headers = {"Access-Token": call.token} if call.token is not None else {}
        if call.json is not None:
            headers["Content-Type"] = "application/json"
        files = None
        if call.file is not None:
            content = stack.enter_context(call.file.open())
            files = {"file": (call.file.filename, content, call.file.content_type)}
        return self._http.build_request(call.method, call.endpoint, headers=headers, params=call.params,
                                        content=call.json, data=call.form, files=files)  # type: ignore[arg-type]

    @staticmethod
    def _describe(exc: Exception, call: Call) -> str:
        """Timeouts and network errors name their cause ("[Errno 111] ..."); scrubbed all the same."""
        return scrub(f"{type(exc).__name__}: {exc}", call.secrets)

    def _judge(self, call: Call, response: httpx.Response) -> Envelope:
        status = response.status_code
        try:
            envelope: Envelope | None = parse_envelope(response.content)
        except MalformedEnvelope:
            envelope = None
        code = envelope.code if envelope is not None else None
        message = scrub(envelope.message, call.secrets) if envelope is not None else ""
        kind = classify(code, status, message)
        if envelope is not None and kind in (ErrorClass.OK, ErrorClass.PARTIAL):
            self._count_outcome(call, "ok" if kind is ErrorClass.OK else "partial")
            if kind is ErrorClass.PARTIAL:
                log.warning("tiktok %s: partial success (request_id %s): %s", call.endpoint,
                            envelope.request_id, message,
                            extra={"endpoint": call.endpoint, "request_id": envelope.request_id,
                                   "tiktok_message": message})
            return envelope
        if kind is ErrorClass.THROTTLED:
            self._limiter.on_throttle(call.limit_key)
        error_type = ERROR_TYPES.get(kind, PermanentError)
        text = message or (f"HTTP {status}" + ("" if envelope is not None else " without a TikTok envelope"))
        error = error_type(text, endpoint=call.endpoint, code=code, http_status=status,
                           request_id=envelope.request_id if envelope is not None else None)
        raise self._count(error, call)

    def _count(self, error: TikTokError, call: Call) -> TikTokError:
        self._count_outcome(call, error.outcome)
        return error

    def _count_outcome(self, call: Call, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.tiktok_requests_total.labels(call.endpoint, outcome).inc()


class RedactQueryFilter(logging.Filter):
    """Drops query strings from URLs in httpx's log lines: ``oauth2/advertiser/get/`` carries the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) else a
                                for a in record.args)
        return True


def install_log_redaction() -> None:
    """Attach ``RedactQueryFilter`` to the ``httpx`` logger once (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
        logger.addFilter(RedactQueryFilter())
