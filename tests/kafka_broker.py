"""Where the local test broker is and how to wait for it (docs/architecture.md §10).

The broker itself is started by ``make kafka-up`` (tools/kafka/local.py, which imports this file by path).
Tests use::

    from kafka_broker import bootstrap, wait_ready
    wait_ready(bootstrap(), timeout=30)

A TCP connect is not a readiness check: Kafka binds its listener long before it serves requests, so this
polls with a real Metadata request (AdminClient.list_topics) until a broker is listed.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

DEFAULT_PORT = 9092


def port() -> int:
    return int(os.environ.get("KAFKA_PORT") or DEFAULT_PORT)


def bootstrap() -> str:
    """``127.0.0.1:${KAFKA_PORT:-9092}`` (always 127.0.0.1: the broker advertises exactly that)."""
    return f"127.0.0.1:{port()}"


def probe(bootstrap_servers: str, timeout: float = 1.0, broker_id: int | None = None) -> Any:
    """One Metadata request; returns the ClusterMetadata if a (matching) broker is listed, else None."""
    # fresh client per try: librdkafka's reconnect backoff otherwise grows to seconds
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 200,
            "log_level": 0,  # silence 'Connection refused' spam while the broker is still starting
        }
    )
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException:
        return None
    if md.brokers and (broker_id is None or broker_id in md.brokers):
        return md
    return None


def wait_ready(
    bootstrap_servers: str | None = None,
    timeout: float = 60.0,
    proc: subprocess.Popen[Any] | None = None,
    broker_id: int | None = None,
) -> Any:
    """Block until the broker answers a Metadata request listing a broker; return that metadata.

    Raises TimeoutError after ``timeout`` seconds, RuntimeError if ``proc`` (the broker JVM) exits first.
    """
    bs = bootstrap_servers or bootstrap()
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited early with code {proc.returncode}")
        md = probe(bs, timeout=1.0, broker_id=broker_id)
        if md is not None:
            return md
        if time.monotonic() >= deadline:
            raise TimeoutError(f"Kafka at {bs} not ready after {timeout:.0f}s")
        time.sleep(0.2)
