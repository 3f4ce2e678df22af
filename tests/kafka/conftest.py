"""Fixtures of the ``tikstream.kafka`` tests (the broker ones, ``kafka_config`` and ``new_topic``, are in
tests/conftest.py): an address where no broker listens."""

from __future__ import annotations

import pytest


@pytest.fixture
def nowhere() -> dict[str, str]:
    """A client config for an address where nothing listens: nothing is ever delivered or read."""
    return {"bootstrap.servers": "127.0.0.1:1", "log_level": "0"}
