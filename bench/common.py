"""Shared benchmark helpers: results files, topics, trigger production."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def bootstrap() -> str:
    return f"127.0.0.1:{os.environ.get('KAFKA_PORT') or 9092}"


def merge_results(path: str | None, results: dict[str, Any]) -> None:
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    if not path:
        return
    p = Path(path)
    current = orjson.loads(p.read_bytes()) if p.exists() else {}
    current.update(results)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(orjson.dumps(current, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def new_topic(partitions: int, prefix: str = "bench", config: dict[str, str] | None = None) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)
    return name


def delete_topics(*names: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap()})
    for fut in admin.delete_topics(list(names)).values():
        with contextlib.suppress(Exception):
            fut.result(30)


def sample_trigger(i: int, audience: str = "bench_aud") -> bytes:
    return orjson.dumps(
        {
            "audience": audience,
            "event": "enter" if i % 4 else "exit",
            "user_id": f"user-{i}",
            "ts": "2026-11-24T10:15:00Z",
            "user": {
                "email": f" User{i}@Example.com ",
                "phone": f"+1 (213) 373-{i % 10000:04d}",
                "order_total": 46.0 + i % 100,
                "currency": "USD",
                "page": f"https://shop.example/p/{i % 500}",
            },
        }
    )


def web_job(job_id: str) -> dict[str, Any]:
    """The web events job of the benches: maps every field of ``sample_trigger``."""
    return {
        "id": job_id,
        "type": "web_events",
        "auth": "pixel",
        "audiences": ["bench_aud"],
        "triggers": ["enter", "exit"],
        "pixel_code": "C4ABCDEF",
        "event_name": "Purchase",
        "page_url_field": "user.page",
        "identifiers": {"user.email": "email", "user.phone": "phone", "user_id": "external_id"},
        "properties": {"user.order_total": "value", "user.currency": "currency"},
        "created_at": "2020-01-01T00:00:00Z",
    }


def produce_triggers(topic: str, n: int, audience: str = "bench_aud",
                     record: Callable[[int], tuple[bytes, bytes]] | None = None) -> None:
    """Produce ``n`` triggers: ``record(i)`` gives (key, value); default ``sample_trigger`` keyed by user."""
    from confluent_kafka import Producer

    record = record or (lambda i: (f"user-{i}".encode(), sample_trigger(i, audience)))

    p = Producer(
        {
            "bootstrap.servers": bootstrap(),
            "linger.ms": 50,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            "compression.type": "lz4",
        }
    )
    for i in range(n):
        key, value = record(i)
        while True:
            try:
                p.produce(topic, key=key, value=value)
                break
            except BufferError:
                p.poll(0.05)
        if i % 20000 == 0:
            p.poll(0)
    p.flush(120)
