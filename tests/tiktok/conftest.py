"""Fixtures for the TikTok client tests (fakes live in ``tiktok_fakes.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tikstream.metrics import Metrics
from tikstream.tiktok import RateLimiter, RetryPolicy, TikTokClient

# tests/ holds shared helpers (emulator_proc.py); make them importable from this folder too.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.append(_TESTS)

from tiktok_fakes import BASE_URL, FAST, ManualClock, Reply, Script, envelope  # noqa: E402


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())

@pytest.fixture
def make_client(clock: ManualClock, metrics: Metrics) -> Iterator[Callable[..., tuple[TikTokClient, Script]]]:
    made: list[TikTokClient] = []

    def make(*replies: Reply, retry: RetryPolicy = FAST, limiter: RateLimiter | None = None,
             rand: Callable[[], float] = lambda: 0.5) -> tuple[TikTokClient, Script]:
        script = Script(replies or [envelope()])
        lim = limiter or RateLimiter(1000.0, burst=1000.0, clock=clock, sleep=clock.sleep)
        client = TikTokClient(BASE_URL, metrics=metrics, transport=httpx.MockTransport(script), retry=retry,
                              limiter=lim, sleep=clock.sleep, clock=clock, rand=rand)
        made.append(client)
        return client, script

    yield make
    for client in made:
        client.close()
