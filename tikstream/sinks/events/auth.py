"""The access token of an events job, read from the authorization store at send time, and the pause rules.

An events job is *paused* (its records parked, ``tikstream.sinks.events.parking``) when its authorization cannot
work: TikTok answers a re-authorise code (``ReauthorizeError``: expired, missing, invalid token), or a
permission code (``PermissionDeniedError``: the token does not cover this pixel, app or event set), or the
file lacks the authorization or holds one of the wrong kind or scope. Every other rejection is about the
events themselves and is handled by splitting the batch.

It resumes by itself: while paused, the store is refreshed every ``check_interval`` seconds; a usable
authorization that differs from the one that failed resumes the job at once, an unchanged one is tried
again every ``probe_interval`` seconds (a token may be re-enabled on TikTok's side). A probe is just the
next send: if it fails the same way, the job pauses again.
"""

from __future__ import annotations

from collections.abc import Callable

from tikstream.auth import AuthStore, TokenResolver
from tikstream.jobs.models import EventsJob
from tikstream.tiktok.errors import PermissionDeniedError, ReauthorizeError, TikTokError

__all__ = ["JobAuth", "is_authorization_error"]


def is_authorization_error(exc: BaseException) -> bool:
    return isinstance(exc, ReauthorizeError | PermissionDeniedError)


def describe(exc: BaseException) -> str:
    """A short error text for ``/jobs`` and the DLQ: TikTok's code and message, never a credential."""
    if isinstance(exc, TikTokError):
        return f"{exc.code} {exc.message}" if exc.code is not None else exc.message
    return type(exc).__name__


class JobAuth:
    """The job's token (``tikstream.auth.TokenResolver``: checked for kind and scope) and its pause clock."""

    def __init__(self, job: EventsJob, store: AuthStore | None, clock: Callable[[], float], *,
                 check_interval: float = 3.0, probe_interval: float = 60.0) -> None:
        self._resolver = TokenResolver(job, store)
        self._store = store
        self._clock = clock
        self._check_interval = check_interval
        self._probe_interval = probe_interval
        self._next_refresh = 0.0
        self.failed: object = None  # the authorization that failed, while paused
        self.failed_at = 0.0

    def current(self) -> object:
        return self._resolver.current()

    def token(self) -> tuple[str | None, str | None]:
        """``(token, None)`` when the job has a usable authorization, else ``(None, why)``."""
        return self._resolver.token()

    def refresh(self) -> None:
        """Let the store re-read the file when it changed (at most every ``check_interval`` seconds)."""
        now = self._clock()
        if now >= self._next_refresh and self._store is not None:
            self._next_refresh = now + self._check_interval
            self._store.refresh()

    def mark_failed(self) -> None:
        self.failed, self.failed_at = self.current(), self._clock()

    def may_resume(self) -> bool:
        """While paused: whether to try again now (see the module docstring)."""
        self.refresh()
        token, _problem = self.token()
        if token is None:
            return False
        return self.current() != self.failed or self._clock() - self.failed_at >= self._probe_interval
