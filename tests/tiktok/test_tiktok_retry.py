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


THROTTLE_AWARE = RetryPolicy(base_seconds=1.0, cap_seconds=30.0, server_base_seconds=0.25,
                             throttle_jitter_seconds=0.2)


@pytest.mark.parametrize(("wall", "rand", "delay"),
                         [pytest.param(1000.25, 0.0, 0.75, id="to-the-next-second"),
                          pytest.param(1000.75, 0.5, 0.35, id="plus-jitter"),
                          pytest.param(1000.0, 0.999, 1.1998, id="on-a-boundary-the-next-one")])
def test_throttled_first_retry_is_in_the_next_wall_clock_second(wall: float, rand: float, delay: float) -> None:
    assert THROTTLE_AWARE.delay(1, lambda: rand, "throttled", wall) == pytest.approx(delay)


def test_throttled_retries_back_off_by_whole_seconds() -> None:
    delays = [THROTTLE_AWARE.delay(n, lambda: 0.0, "throttled", 1000.5) for n in (1, 2, 3, 4, 10)]
    assert delays == [0.5, 1.5, 3.5, 7.5, 29.5]  # the next second, then 1, 3, 7 ... more, capped at 30


def test_server_errors_retry_on_the_short_base() -> None:
    assert THROTTLE_AWARE.delay(1, lambda: 0.999, "server") == pytest.approx(0.24975)
    assert THROTTLE_AWARE.delay(3, lambda: 0.5, "server") == 0.5
    assert THROTTLE_AWARE.delay(1, lambda: 0.5, "other") == 0.5  # timeouts keep the long base


def test_a_policy_without_the_options_treats_every_failure_alike() -> None:
    policy = RetryPolicy(base_seconds=1.0)
    assert {policy.delay(2, lambda: 0.5, kind, 1000.3) for kind in ("throttled", "server", "other")} == {1.0}


def test_backoff_reads_the_wall_clock_for_throttled_retries() -> None:
    clock = ManualClock()
    backoff = Backoff(THROTTLE_AWARE, clock=clock, sleep=clock.sleep, rand=lambda: 0.0, wall=lambda: 50.9)
    backoff.start_attempt()
    assert backoff.next_delay("throttled") == pytest.approx(0.1)
