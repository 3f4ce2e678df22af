"""Integration tier: real Kafka (``make kafka-up``) and the emulator over real sockets."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from emulator_proc import running_emulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def produce(kafka_config: dict[str, str], topic: str, records: Iterable[tuple[bytes | None, bytes | None]],
            partition: int | None = None) -> int:
    p = Producer({**kafka_config, "linger.ms": 20, "batch.num.messages": 10000, "enable.idempotence": True})
    n = 0
    for key, value in records:
        while True:
            try:
                if partition is None:
                    p.produce(topic, key=key, value=value)
                else:
                    p.produce(topic, key=key, value=value, partition=partition)
                break
            except BufferError:
                p.poll(0.1)
        n += 1
        if n % 10000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return n


@pytest.fixture
def emulator() -> Iterator[str]:
    """The emulator for audience tests: audiences ready after 2 s, no 1,000-member rule."""
    with running_emulator("--audience-ready-seconds", "2", "--min-audience-size", "0") as base:
        yield base


@contextlib.contextmanager
def running_app(settings: Any, base_url: str, auth_path: Path) -> Iterator[Any]:
    """A real ``App`` on a thread, with a TikTok client that retries fast; stopped (and joined) on exit."""
    from tikstream.app import App
    from tikstream.auth import AuthStore
    from tikstream.metrics import Metrics
    from tikstream.tiktok.client import TikTokClient
    from tikstream.tiktok.retry import RetryPolicy

    metrics = Metrics()
    retry = RetryPolicy(max_attempts=8, base_seconds=0.1, cap_seconds=1.0, max_total_seconds=20.0)
    with TikTokClient(base_url, metrics=metrics, retry=retry) as client:
        app = App(settings, metrics=metrics, auth=AuthStore(auth_path, min_interval=0.2), tiktok=client)
        thread = threading.Thread(target=app.run, name="app")
        thread.start()
        try:
            yield app
        finally:
            app.stop.set()
            thread.join(60)
            assert not thread.is_alive()
