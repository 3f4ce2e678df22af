"""Backoff: full-jitter bounds, the cap, and the limits on attempts and total time."""

from __future__ import annotations

import random

import pytest
from tiktok_fakes import ManualClock

from tikstream.tiktok.retry import Backoff, RetryPolicy


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [pytest.param(1, 0.5, id="first"), pytest.param(2, 1.0, id="second"), pytest.param(3, 2.0, id="third"),
     pytest.param(4, 4.0, id="capped"), pytest.param(10, 4.0, id="stays-capped"),
     pytest.param(500, 4.0, id="huge-attempt-no-overflow")],
)
def test_ceiling_is_capped_exponential(attempt: int, ceiling: float) -> None:
    assert RetryPolicy(base_seconds=0.5, cap_seconds=4.0).ceiling(attempt) == ceiling


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(base_seconds=0.25, cap_seconds=8.0)
    rng = random.Random(7)
    for attempt in range(1, 12):
        delays = [policy.delay(attempt, rng.random) for _ in range(2000)]
        assert min(delays) >= 0.0
        assert max(delays) <= policy.ceiling(attempt)
        # full jitter uses the whole range, not just the top of it
        assert min(delays) < 0.05 * policy.ceiling(attempt) < max(delays)
        assert max(delays) > 0.95 * policy.ceiling(attempt)


def test_delay_scales_the_random_draw() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=30.0)
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.5) == 2.0


def test_gives_up_after_max_attempts() -> None:
    clock = ManualClock()
    backoff = Backoff(RetryPolicy(max_attempts=3, max_total_seconds=1e9), clock=clock, sleep=clock.sleep,
                      rand=lambda: 0.99)
    delays = []
    while True:
        backoff.start_attempt()
        delay = backoff.next_delay()
        if delay is None:
            break
        delays.append(delay)
        backoff.sleep(delay)
    assert backoff.attempts == 3
    assert len(delays) == 2


def test_gives_up_before_passing_the_time_budget() -> None:
    clock = ManualClock()
    policy = RetryPolicy(max_attempts=100, base_seconds=1.0, cap_seconds=10.0, max_total_seconds=25.0)
    backoff = Backoff(policy, clock=clock, sleep=clock.sleep, rand=lambda: 0.999)
    start = clock.now
    while True:
        backoff.start_attempt()
        clock.advance(0.1)  # the attempt itself takes time
        delay = backoff.next_delay()
        if delay is None:
            break
        backoff.sleep(delay)
    assert clock.now - start <= 25.0
    assert backoff.attempts < 100


def test_one_attempt_means_no_retry() -> None:
    backoff = Backoff(RetryPolicy(max_attempts=1))
    backoff.start_attempt()
    assert backoff.next_delay() is None


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_seconds": -1.0}, {"max_total_seconds": -1.0}])
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
