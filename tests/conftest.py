"""Shared by every test folder: tests/ helpers on the path, and the real broker (``make kafka-up``) fixtures."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# tests/ helpers (kafka_broker, emulator_proc) are plain modules next to the tests
sys.path.insert(0, str(Path(__file__).parent))

from kafka_broker import bootstrap, wait_ready


@pytest.fixture(scope="session")
def kafka_config() -> dict[str, str]:
    wait_ready(bootstrap(), timeout=30)
    return {"bootstrap.servers": bootstrap()}


@pytest.fixture
def new_topic(kafka_config: dict[str, str]) -> Iterator[Callable[..., str]]:
    """Creates topics with unique names on the real broker; deletes them after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config)
    created: list[str] = []

    def make(partitions: int = 1, prefix: str = "t", config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)
        created.append(name)
        return name

    yield make
    if created:
        for fut in admin.delete_topics(created).values():
            with contextlib.suppress(Exception):
                fut.result(30)
