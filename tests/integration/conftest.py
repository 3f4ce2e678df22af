"""Integration tier: real Kafka (``make kafka-up``) and the emulator over real sockets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

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
