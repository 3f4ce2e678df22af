"""A token bucket per key (one key per access token) whose rate adapts to TikTok's throttling answers.

The rate starts at ``rate`` requests per second, which is also its ceiling. Throttling that persists halves it
(``decrease``), down to ``floor``: a throttling answer decreases the rate only when, within the last
``window_seconds``, at least ``min_throttles`` answers were throttling and they were at least ``throttle_fraction``
of the requests sent. The defaults (1 and 0) halve on every answer; the client asks for more (docs/tiktok-api.md
§1.5), so that isolated throttling answers, which TikTok's per-second windows give now and then however slow the
sender, do not collapse the rate while sustained throttling still does. Throttling answers within
``cooldown_seconds`` of the last decrease are taken as the same episode (requests already in flight) and do not
halve it again. After ``quiet_seconds``
without throttling, the rate grows by ``step`` per quiet period until it is back at the ceiling (AIMD).

``acquire`` reserves the next free slot under a lock and sleeps outside it, so concurrent callers are spaced
``1 / rate`` apart. In any interval of ``t`` seconds at most ``burst + rate * t`` slots are handed out.

Keys are whatever the caller passes; the client passes a fingerprint of the token, never the token itself.
Not guaranteed: fairness between threads waiting on the same key (the earliest reservation wins, not the
earliest caller), and a slot taken is not handed back when the request is never sent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    updated: float  # last refill
    adjusted: float  # last decrease or additive step
    throttled: float | None  # last decrease
    sent: deque[float] = field(default_factory=deque)  # reservations within the window (bounded by the rate)
    answers: deque[float] = field(default_factory=deque)  # throttling answers within the window


class RateLimiter:
    """Per-key adaptive token bucket. Thread-safe."""

    def __init__(
        self,
        rate: float = 50.0,
        *,
        burst: float = 1.0,
        floor: float = 1.0,
        decrease: float = 0.5,
        step: float | None = None,
        quiet_seconds: float = 5.0,
        cooldown_seconds: float = 1.0,
        min_throttles: int = 1,
        throttle_fraction: float = 0.0,
        window_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0 or floor <= 0 or floor > rate:
            raise ValueError("need 0 < floor <= rate")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be in (0, 1)")
        if min_throttles < 1 or not 0 <= throttle_fraction <= 1 or window_seconds <= 0:
            raise ValueError("need min_throttles >= 1, 0 <= throttle_fraction <= 1 and window_seconds > 0")
        self.max_rate = rate
        self.burst = burst
        self.floor = floor
        self.decrease = decrease
        self.step = step if step is not None else rate / 10
        self.quiet_seconds = quiet_seconds
        self.cooldown_seconds = cooldown_seconds
        self.min_throttles = min_throttles
        self.throttle_fraction = throttle_fraction
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key: str) -> float:
        """Block until ``key`` may send one request; returns the seconds waited."""
        wait = self.reserve(key)
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self, key: str) -> float:
        """Take the next slot for ``key`` without waiting; returns how long to wait before using it."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            self._recover(bucket, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * bucket.rate)
            bucket.updated = now
            bucket.tokens -= 1.0
            if self.min_throttles > 1 or self.throttle_fraction > 0:
                bucket.sent.append(now)
                self._forget(bucket, now)
            return 0.0 if bucket.tokens >= 0 else -bucket.tokens / bucket.rate

    def on_throttle(self, key: str) -> float:
        """Record a throttling answer for ``key``; returns the new rate."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            self._recover(bucket, now)
            recent = bucket.throttled is not None and now - bucket.throttled < self.cooldown_seconds
            if not recent and self._persists(bucket, now):
                self._refill(bucket, now)
                bucket.rate = max(self.floor, bucket.rate * self.decrease)
                bucket.throttled = now
                bucket.adjusted = now
            return bucket.rate

    def rate(self, key: str) -> float:
        """The current rate for ``key`` in requests per second."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            self._recover(bucket, now)
            return bucket.rate

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(rate=self.max_rate, tokens=self.burst, updated=now, adjusted=now, throttled=None)
            self._buckets[key] = bucket
        return bucket

    def _persists(self, bucket: _Bucket, now: float) -> bool:
        """Count this throttling answer; True when the throttling of the window is enough to slow down."""
        if self.min_throttles <= 1 and self.throttle_fraction <= 0:
            return True
        bucket.answers.append(now)
        self._forget(bucket, now)
        throttles = len(bucket.answers)
        return throttles >= self.min_throttles and throttles >= self.throttle_fraction * len(bucket.sent)

    def _forget(self, bucket: _Bucket, now: float) -> None:
        horizon = now - self.window_seconds
        for times in (bucket.sent, bucket.answers):
            while times and times[0] < horizon:
                times.popleft()

    def _refill(self, bucket: _Bucket, now: float) -> None:
        """Credit the time since the last refill at the old rate before the rate changes."""
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * bucket.rate)
        bucket.updated = now

    def _recover(self, bucket: _Bucket, now: float) -> None:
        if bucket.rate >= self.max_rate or bucket.throttled is None:
            return
        steps = int((now - bucket.adjusted) // self.quiet_seconds) if self.quiet_seconds > 0 else 1
        if steps <= 0:
            return
        self._refill(bucket, now)
        bucket.rate = min(self.max_rate, bucket.rate + steps * self.step)
        bucket.adjusted = bucket.adjusted + steps * self.quiet_seconds if self.quiet_seconds > 0 else now
