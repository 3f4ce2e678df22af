"""Broker fixtures for the ``tikstream.kafka`` tests that need one (marked ``integration``); the unit tests here
use no broker at all, or an address where none listens."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_broker import bootstrap, wait_ready


@pytest.fixture
def nowhere() -> dict[str, str]:
    """A client config for an address where nothing listens: nothing is ever delivered or read."""
    return {"bootstrap.servers": "127.0.0.1:1", "log_level": "0"}


@pytest.fixture(scope="session")
def kafka_config() -> dict[str, str]:
    wait_ready(bootstrap(), timeout=30)
    return {"bootstrap.servers": bootstrap()}


@pytest.fixture
def new_topic(kafka_config: dict[str, str]) -> Iterator[Callable[..., str]]:
    admin = AdminClient(kafka_config)
    created: list[str] = []

    def make(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"kafka-{uuid.uuid4().hex[:10]}"
        admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)
        created.append(name)
        return name

    yield make
    for fut in admin.delete_topics(created).values() if created else ():
        with contextlib.suppress(Exception):
            fut.result(30)
