"""The exception vocabulary of tikstream.

::

    TikstreamError
    ├── ConfigError                 settings, job configs, the authorization file
    │   ├── JobConfigError          a job version that fails validation (carries field errors)
    │   └── AuthConfigError         a missing or incompatible authorization
    ├── InvalidRecord               a trigger that cannot be decoded (carries the DLQ reason)
    ├── BackPressure                a sink cannot take more now; the caller pauses and retries
    ├── KafkaStoreError             an audience record not stored in Kafka in time (sinks.audience.state)
    ├── MembershipError             the membership table could not be read (sinks.audience.members_topic)
    ├── ProduceError                librdkafka refused a record at produce, e.g. too large (kafka.producer)
    ├── LoginError                  ``tikstream auth login`` did not complete (oauth_login)
    └── TikTokError                 an answer from TikTok; its tree is in tikstream.tiktok.errors:
        ├── RetryableError            (ThrottledError, TransportError, AudienceBusyError)
        ├── ReauthorizeError
        └── PermanentError            (PermissionDeniedError, AudienceTooSmallError)

    ValueError
    └── MalformedEnvelope           a TikTok answer without a readable envelope (tiktok.models); the
                                    client turns it into a TikTokError

    Exception
    └── _MergedExpired              a merged audience file expired at TikTok; the writer puts the original
                                    operations back (sinks.audience.writer, never raised outside it)

    Exception                       the emulator's own, never raised outside it (tikstream.emulator):
    ├── ApiError                    a refused request, answered with TikTok's code and message (envelope)
    └── _WorkerGone                 a check worker died mid-body; the body is checked in place (checkpool)

Messages never contain secrets: access tokens and app secrets stay out of every error.
"""

from __future__ import annotations

from collections.abc import Sequence


class TikstreamError(Exception):
    """Base class of every error tikstream raises on purpose."""


class ConfigError(TikstreamError):
    """Configuration that cannot be used as given."""


class FieldError:
    """One validation failure: a dotted field path and what is wrong with it."""

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"FieldError({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldError) and (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class JobConfigError(ConfigError):
    """A job config that is invalid; ``errors`` lists every failing field."""

    def __init__(self, job_id: str | None, errors: Sequence[FieldError]) -> None:
        self.job_id = job_id
        self.errors = tuple(errors)
        where = f"job {job_id!r}" if job_id else "job"
        super().__init__(f"{where} is invalid: " + "; ".join(str(e) for e in self.errors))


class AuthConfigError(ConfigError):
    """An authorization that is missing, unreadable or of the wrong kind for a job."""


class InvalidRecord(TikstreamError):
    """A trigger record that cannot be used. ``reason`` is a short stable class for metrics/DLQ."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class BackPressure(TikstreamError):
    """Raised by ``Sink.submit`` when the sink holds as much as it may; nothing was accepted."""
