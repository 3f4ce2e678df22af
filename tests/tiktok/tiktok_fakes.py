"""Fakes for the TikTok client tests: a hand-moved clock and a scripted ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson

from tikstream.metrics import Metrics
from tikstream.tiktok import RetryPolicy

BASE_URL = "https://tiktok.test/open_api/v1.3"
TOKEN = "tok-SECRET-9f8e7d6c5b4a"
APP_SECRET = "app-secret-0a1b2c3d"


class ManualClock:
    """A monotonic clock that only moves when told; ``sleep`` moves it and records the delays."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def envelope(code: int = 0, message: str = "OK", data: Any = None, request_id: str = "req-1",
             status: int = 200) -> httpx.Response:
    body = {"code": code, "message": message, "request_id": request_id, "data": {} if data is None else data}
    return httpx.Response(status, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


class Script:
    """Answers requests in order from a list of replies (the last one repeats); keeps every request."""

    def __init__(self, replies: Iterable[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.read())
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    @property
    def count(self) -> int:
        return len(self.requests)


FAST = RetryPolicy(max_attempts=4, base_seconds=0.5, cap_seconds=4.0, max_total_seconds=60.0)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
