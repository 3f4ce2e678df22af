"""Core loop throughput against the bare confluent-kafka consume loop, same topic, same run.

``core_records_per_s``: consume, decode, route, a no-op sink, commits on (the real Processor).
``bare_consume_records_per_s``: a plain ``consume(1000)`` loop touching each value.
``core_ratio``: core / bare. Each figure is the median of ``--runs`` alternating runs.
"""

from __future__ import annotations

import argparse
import time
import uuid

from common import bootstrap, delete_topics, median, merge_results, new_topic, produce_triggers
from confluent_kafka import Consumer

from tikstream.cli import tune_gc
from tikstream.jobs.models import parse_job
from tikstream.jobs.registry import JobVersion
from tikstream.kafka.consumer import TriggerConsumer
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.sinks.manager import SinkManager
from tikstream.testing import NullSink

PARTITIONS = 4


def bare(topic: str, n: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap(),
            "group.id": f"bare-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 65536,
        }
    )
    c.subscribe([topic])
    seen, start = 0, None
    while seen < n:
        msgs = c.consume(1000, 1.0)
        if msgs and start is None:
            start = time.perf_counter()
        for m in msgs:
            if m.error() is None:
                m.value()
                seen += 1
    elapsed = time.perf_counter() - (start or time.perf_counter())
    c.close()
    return n / elapsed


class _NoDLQ:
    def send(self, *a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("bench records are all valid")

    def poll(self) -> None: ...
    def pending(self):  # type: ignore[no-untyped-def]
        return {}

    def drop(self, partitions):  # type: ignore[no-untyped-def]
        return None

    def flush(self, timeout: float) -> bool:
        return True


def core(topic: str, n: int) -> float:
    metrics = Metrics()
    job = parse_job(
        {
            "id": "bench",
            "type": "web_events",
            "auth": "a",
            "audiences": ["bench_aud"],
            "triggers": ["enter", "exit"],
            "pixel_code": "C4ABCDEF",
            "event_name": "Purchase",
            "page_url_field": "user.page",
            "identifiers": {"user.email": "email"},
        }
    )
    sinks = SinkManager(lambda v: NullSink(), lambda v, r: NullSink(), metrics)
    sinks.sync({"bench": JobVersion(job, "0:0", 0.0)}, 1)
    consumer = TriggerConsumer({"bootstrap.servers": bootstrap()}, f"core-{uuid.uuid4().hex}", "earliest")
    processor = Processor(consumer, _NoDLQ(), sinks, metrics)  # type: ignore[arg-type]
    consumer.subscribe([topic], processor.on_assign, processor.on_revoke, processor.on_lost)
    tune_gc()  # as `tikstream run` does once started
    seen, start = 0, None
    while seen < n:
        got = processor.step(1.0)
        if got and start is None:
            start = time.perf_counter()
        seen += got
    processor.commit(asynchronous=False)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    topic = new_topic(PARTITIONS, "bench-core")
    try:
        produce_triggers(topic, args.records)
        bares, cores = [], []
        for _ in range(args.runs):
            bares.append(bare(topic, args.records))
            cores.append(core(topic, args.records))
    finally:
        delete_topics(topic)
    b, c = median(bares), median(cores)
    merge_results(
        args.out,
        {
            "bare_consume_records_per_s": round(b),
            "core_records_per_s": round(c),
            "core_ratio": round(c / b, 3),
            "core_bench_records": args.records,
        },
    )


if __name__ == "__main__":
    main()
