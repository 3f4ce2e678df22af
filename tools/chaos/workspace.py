"""The workspace of one fault run (`make chaos`, `make soak`): its own topics and consumer group on the local
broker (`KAFKA_PORT`), a folder for logs and state, the `TIKSTREAM_*` environment of its instances, and its
paced load (`paced_load`)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Workspace:
    bootstrap: str
    triggers: str
    config: str
    dlq: str
    group: str
    work: Path

    @classmethod
    def new(cls, kind: str) -> Workspace:
        """Names ``{kind}-triggers-{id}`` and so on, a fresh ``.cache/{kind}/{id}`` folder."""
        rid = uuid.uuid4().hex[:8]
        work = ROOT / ".cache" / kind / rid
        work.mkdir(parents=True, exist_ok=True)
        return cls(f"127.0.0.1:{os.environ.get('KAFKA_PORT') or 9092}", f"{kind}-triggers-{rid}",
                   f"{kind}-jobs-{rid}", f"{kind}-dlq-{rid}", f"{kind}-{rid}", work)

    def env(self, base_url: str, **settings: str) -> dict[str, str]:
        """The environment of a `tikstream` command of this run; ``settings`` add ``TIKSTREAM_<NAME>`` values."""
        return {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": self.bootstrap, "TIKSTREAM_TRIGGER_TOPICS": self.triggers,
                "TIKSTREAM_CONFIG_TOPIC": self.config, "TIKSTREAM_DLQ_TOPIC": self.dlq,
                "TIKSTREAM_GROUP_ID": self.group, "TIKSTREAM_TIKTOK_BASE_URL": base_url,
                "TIKSTREAM_AUTH_FILE": str(ROOT / "examples" / "auth.json"), "TIKSTREAM_HTTP_PORT": "0",
                **{f"TIKSTREAM_{k.upper()}": v for k, v in settings.items()}}


def paced_load(bootstrap: str, topic: str, rate: int, stop: threading.Event,
               record: Callable[[int], tuple[str, dict[str, Any]]]) -> int:
    """Produce ``record(n)`` (key, value) for n = 0, 1, ... at ``rate`` per second until ``stop``; returns how
    many were produced, all acknowledged (raises ``AssertionError`` when the broker did not take them)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True,
                  "message.timeout.ms": 300000})
    n = 0
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while n < due:
            key, value = record(n)
            p.produce(topic, key=key.encode(), value=orjson.dumps(value))
            p.poll(0)
            n += 1
        time.sleep(0.01)
    assert p.flush(300) == 0, "the load generator could not deliver its triggers"
    return n
