"""Capped exponential backoff with full jitter, bounded by attempts and by total time.

``RetryPolicy`` is a value; ``Backoff`` applies it to one call, with the clock, the sleep and the random
source injected so tests move a manual clock instead of sleeping. Full jitter (the delay before attempt
``n + 1`` is uniform in ``[0, min(cap, base * 2 ** (n - 1))]``) spreads retries of many workers that
failed together.

The delay depends on what failed (``next_delay(kind)``), where the policy asks for it (``TikTokClient``'s default
policy does; a policy that leaves ``throttle_jitter_seconds`` and ``server_base_seconds`` None treats every
failure alike):

* ``"throttled"``: TikTok says to retry a request throttled by a QPS limit in the next second
  (docs/tiktok-api.md §1.5), so the first retry waits for the next wall-clock second plus up to
  ``throttle_jitter_seconds``; each further throttled attempt waits whole seconds more, doubling (1, 2, 4 ...,
  up to ``cap_seconds``): backoff, as 40100 asks (§1.4);
* ``"server"`` (HTTP 5xx, TikTok's 5xxxx): the same full jitter on a shorter base, ``server_base_seconds``: a
  server error is rare and brief, and a retry soon after is what keeps delivery latency low;
* anything else (timeouts, connection failures): full jitter on ``base_seconds``.

Not guaranteed: the bound on total time covers the time spent before the last attempt starts; that attempt
may still take up to the client's request timeout.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_RETRY", "Backoff", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a transient failure.

    ``max_attempts`` counts the first try (1 = never retry). A retry is not started when its delay would end
    after ``max_total_seconds`` measured from the start of the first attempt.
    """

    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    max_total_seconds: float = 120.0
    # Defaults: delays drawn from [0, 0.5], [0, 1], [0, 2], [0, 4], [0, 8] s. The per-token rate limiter already
    # slows down on throttling (``ratelimit``), so long waits here only stall one request: with 30 s (and a
    # 1 s base) a batch that met throttling four times in a row waited up to 16 s more after the others were
    # through, the tail of `make chaos` after its load.
    server_base_seconds: float | None = None
    """The base of server errors' backoff; None: ``base_seconds``."""
    throttle_jitter_seconds: float | None = None
    """Set: throttled requests are retried in the next wall-clock second plus up to this; None: as others."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_seconds, self.cap_seconds, self.max_total_seconds, self.server_base_seconds or 0.0,
               self.throttle_jitter_seconds or 0.0) < 0:
            raise ValueError("base_seconds, cap_seconds, max_total_seconds, server_base_seconds and "
                             "throttle_jitter_seconds must not be negative")

    def ceiling(self, attempt: int, base: float | None = None) -> float:
        """The largest delay after failed attempt ``attempt`` (1-based): ``min(cap, base * 2**(n-1))``."""
        exponent = min(attempt - 1, 62)  # 2**62 * base overflows nothing and is past any sane cap
        return min(self.cap_seconds, (self.base_seconds if base is None else base) * float(2**exponent))

    def delay(self, attempt: int, rand: Callable[[], float], kind: str = "other", wall: float = 0.0) -> float:
        """The delay after failed attempt ``attempt`` of ``kind`` (see the module), ``rand`` returning a float in
        ``[0, 1)``, ``wall`` the wall-clock time (seconds since the epoch) for ``"throttled"``."""
        if kind == "throttled" and self.throttle_jitter_seconds is not None:
            whole = self.ceiling(attempt, 1.0) - 1.0  # 0, 1, 3, 7 ... whole seconds after the next one
            return (1.0 - wall % 1.0) + whole + rand() * self.throttle_jitter_seconds
        if kind == "server" and self.server_base_seconds is not None:
            return rand() * self.ceiling(attempt, self.server_base_seconds)
        return rand() * self.ceiling(attempt)


class Backoff:
    """The retry state of one call: ``next_delay()`` after each failure, or None to give up."""

    __slots__ = ("_attempt", "_clock", "_policy", "_rand", "_sleep", "_start", "_wall")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._wall = wall
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._start = clock()
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Attempts started so far."""
        return self._attempt

    def start_attempt(self) -> int:
        self._attempt += 1
        return self._attempt

    def elapsed(self) -> float:
        return self._clock() - self._start

    def next_delay(self, kind: str = "other") -> float | None:
        """The delay before the next attempt after a failure of ``kind`` (``"throttled"``, ``"server"`` or
        anything else), or None when the attempts or the time budget are spent."""
        if self._attempt >= self._policy.max_attempts:
            return None
        delay = self._policy.delay(self._attempt, self._rand, kind, self._wall() if kind == "throttled" else 0.0)
        if self.elapsed() + delay > self._policy.max_total_seconds:
            return None
        return delay

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)


DEFAULT_RETRY: Final = RetryPolicy(server_base_seconds=0.25, throttle_jitter_seconds=0.2)
"""``TikTokClient``'s policy: throttled requests in the next second, server errors retried within 0.25 s first."""
