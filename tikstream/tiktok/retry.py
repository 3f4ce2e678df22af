"""Capped exponential backoff with full jitter, bounded by attempts and by total time.

``RetryPolicy`` is a value; ``Backoff`` applies it to one call, with the clock, the sleep and the random
source injected so tests move a manual clock instead of sleeping. Full jitter (the delay before attempt
``n + 1`` is uniform in ``[0, min(cap, base * 2 ** (n - 1))]``) spreads retries of many workers that
failed together.

Not guaranteed: the bound on total time covers the time spent before the last attempt starts; that attempt
may still take up to the client's request timeout.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "RetryPolicy"]


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

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.cap_seconds < 0 or self.max_total_seconds < 0:
            raise ValueError("base_seconds, cap_seconds and max_total_seconds must not be negative")

    def ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt ``attempt`` (1-based): ``min(cap, base * 2**(n-1))``."""
        exponent = min(attempt - 1, 62)  # 2**62 * base overflows nothing and is past any sane cap
        return min(self.cap_seconds, self.base_seconds * float(2**exponent))

    def delay(self, attempt: int, rand: Callable[[], float]) -> float:
        """Full jitter: ``rand() * ceiling(attempt)``, ``rand`` returning a float in ``[0, 1)``."""
        return rand() * self.ceiling(attempt)


class Backoff:
    """The retry state of one call: ``next_delay()`` after each failure, or None to give up."""

    __slots__ = ("_attempt", "_clock", "_policy", "_rand", "_sleep", "_start")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
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

    def next_delay(self) -> float | None:
        """The delay before the next attempt, or None when the attempts or the time budget are spent."""
        if self._attempt >= self._policy.max_attempts:
            return None
        delay = self._policy.delay(self._attempt, self._rand)
        if self.elapsed() + delay > self._policy.max_total_seconds:
            return None
        return delay

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)
