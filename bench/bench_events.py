"""Events pipeline: Kafka → poll loop → web events sink → TikTok emulator over real sockets.

``events_e2e_per_s``: N triggers pre-produced, the real poll loop (TriggerConsumer, Processor, SinkManager)
and the real ``EventsSink`` + ``TikTokClient``, saturated; the clock runs from the first record consumed
until TikTok (the emulator) accepted all N events. The job maps email, phone, external_id, value, currency
and the page URL (the fields of ``common.sample_trigger``).
``events_ratio``: that over ``bare_consume_records_per_s`` of the same topic in the same run (bench_core's
bare ``consume(1000)`` loop). Each figure is the median of ``--runs`` alternating runs.
``batch_fill``: events per ``/event/track/`` request / 1000 in the saturated runs (the emulator's counts).
``events_latency_p99_s``: a producer process offers ``--rate`` triggers/s for ``--seconds``; latency is the
emulator's receive time of each event minus the wall time its trigger was produced.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from bench_core import bare
from common import bootstrap, delete_topics, median, merge_results, new_topic, produce_triggers, sample_trigger, web_job
from emulator_proc import admin_url, running_emulator

from tikstream.auth import AuthStore
from tikstream.cli import tune_gc
from tikstream.jobs.models import parse_job
from tikstream.jobs.registry import JobVersion
from tikstream.kafka.consumer import TriggerConsumer
from tikstream.mapping.compile import event_id
from tikstream.metrics import Metrics
from tikstream.processor import Processor
from tikstream.records import decode
from tikstream.sinks.base import SinkContext
from tikstream.sinks.events.build import build_events_sink
from tikstream.sinks.events.sink import EventsSink
from tikstream.sinks.manager import SinkManager
from tikstream.supervise import Supervisor
from tikstream.tiktok.client import TikTokClient

PARTITIONS = 4
JOB = web_job("bench-web")


class _NoDLQ:
    def send(self, *a: Any, **k: Any) -> None:
        raise AssertionError("bench events are all valid")

    def poll(self) -> None: ...

    def pending(self) -> dict[Any, int]:
        return {}

    def drop(self, partitions: Any) -> None: ...

    def flush(self, timeout: float) -> bool:
        return True


class Pipeline:
    """The poll loop with one web events job, as ``tikstream run`` wires it."""

    def __init__(self, topic: str, base_url: str, auth_path: Path) -> None:
        self.metrics = Metrics()
        self.client = TikTokClient(base_url, metrics=self.metrics)
        group = f"bench-events-{uuid.uuid4().hex[:8]}"
        kafka = {"bootstrap.servers": bootstrap()}
        ctx = SinkContext(
            self.metrics,
            _NoDLQ(),
            kafka,
            group,
            Path(tempfile.gettempdir()),
            base_url,  # type: ignore[arg-type]
            AuthStore(auth_path),
            self.client,
            Supervisor(self.metrics.thread_failures_total),
        )
        sink = build_events_sink(JobVersion(parse_job(JOB), "0:0", 0.0), ctx)
        assert isinstance(sink, EventsSink)
        self.sink = sink
        self.sinks = SinkManager(lambda v: sink, lambda v, r: sink, self.metrics)
        self.sinks.sync({JOB["id"]: JobVersion(sink.job, "0:0", 0.0)}, 1)
        self.consumer = TriggerConsumer(kafka, group, "earliest")
        self.processor = Processor(self.consumer, _NoDLQ(), self.sinks, self.metrics)  # type: ignore[arg-type]
        self.consumer.subscribe([topic], self.processor.on_assign, self.processor.on_revoke, self.processor.on_lost)
        tune_gc()  # as `tikstream run` does once started

    def run_until_sent(self, n: int, timeout: float = 600) -> float:
        """Seconds from the first record consumed until ``n`` events were accepted."""
        start = None
        deadline = time.monotonic() + timeout
        while self.sink.sent < n:
            got = self.processor.step(0.05)
            if got and start is None:
                start = time.perf_counter()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.sink.sent} of {n} events accepted")
        return time.perf_counter() - (start or time.perf_counter())

    def serve(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            self.processor.step(0.05)

    def close(self) -> None:
        self.processor.shutdown(10)
        self.consumer.close()
        self.sinks.close()
        self.client.close()


def emulator_state(base_url: str, query: str = "") -> dict[str, Any]:
    response = httpx.get(admin_url(base_url, "state") + query, timeout=120)
    response.raise_for_status()
    return dict(response.json())


def saturated(topic: str, n: int, base_url: str, auth_path: Path) -> tuple[float, float]:
    """(events per second, batch fill) of one saturated run."""
    httpx.post(admin_url(base_url, "reset"), timeout=30).raise_for_status()
    pipeline = Pipeline(topic, base_url, auth_path)
    try:
        elapsed = pipeline.run_until_sent(n)
    finally:
        pipeline.close()
    events = emulator_state(base_url)["events"]
    assert events["received"] >= n, events
    return n / elapsed, events["received"] / events["requests"] / 1000


def _paced_producer(topic: str, rate: int, seconds: float, out: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap(), "linger.ms": 2})
    times: list[float] = []
    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        value = sample_trigger(1_000_000 + i)
        times.append(time.time())
        producer.produce(topic, key=f"user-{1_000_000 + i}".encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    Path(out).write_bytes(orjson.dumps(times))


def latency(rate: int, seconds: float, base_url: str, auth_path: Path) -> dict[str, float]:
    topic = new_topic(PARTITIONS, "bench-events-latency")
    times_path = Path(tempfile.mkstemp(suffix=".json")[1])
    try:
        httpx.post(admin_url(base_url, "reset"), timeout=30).raise_for_status()
        pipeline = Pipeline(topic, base_url, auth_path)
        pipeline.serve(time.monotonic() + 8)  # joined the group, idle
        producer = multiprocessing.get_context("spawn").Process(
            target=_paced_producer, args=(topic, rate, seconds, str(times_path))
        )
        producer.start()
        total = int(rate * seconds)
        deadline = time.monotonic() + seconds + 60
        while pipeline.sink.sent < total and time.monotonic() < deadline:
            pipeline.processor.step(0.05)
        producer.join(60)
        pipeline.close()
        if producer.exitcode != 0:
            raise RuntimeError(f"the producer process failed (exit {producer.exitcode})")
        produced = orjson.loads(times_path.read_bytes())
        job = parse_job(JOB)
        by_id = {event_id(job.id, decode(sample_trigger(1_000_000 + i), None)): t for i, t in enumerate(produced)}
        received = emulator_state(base_url, "?events=1")["events"]["list"]
        lat = sorted(e["received_at"] - by_id[e["event_id"]] for e in received if e["event_id"] in by_id)
        assert len(lat) >= total, f"{len(lat)} of {total} events received"
        return {
            "p50": statistics.median(lat),
            "p99": lat[int(0.99 * (len(lat) - 1))],
            "max": lat[-1],
            "events": float(len(lat)),
        }
    finally:
        delete_topics(topic)
        times_path.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        auth_path = Path(tmp) / "auth.json"
        auth_path.write_bytes(
            orjson.dumps({"authorizations": {"pixel": {"kind": "events_token", "access_token": "bench-token"}}})
        )
        with running_emulator("--max-events-kept", str(max(200_000, 2 * args.rate * int(args.seconds)))) as base:
            topic = new_topic(PARTITIONS, "bench-events")
            try:
                produce_triggers(topic, args.records)
                bares, rates, fills = [], [], []
                for _ in range(args.runs):
                    bares.append(bare(topic, args.records))
                    rate, fill = saturated(topic, args.records, base, auth_path)
                    rates.append(rate)
                    fills.append(fill)
            finally:
                delete_topics(topic)
            lat = latency(args.rate, args.seconds, base, auth_path)
    b, e = median(bares), median(rates)
    merge_results(
        args.out,
        {
            "events_e2e_per_s": round(e),
            "events_ratio": round(e / b, 3),
            "events_bare_consume_per_s": round(b),
            "batch_fill": round(median(fills), 3),
            "events_latency_p99_s": round(lat["p99"], 3),
            "events_latency": {
                "p50_s": round(lat["p50"], 3),
                "p99_s": round(lat["p99"], 3),
                "max_s": round(lat["max"], 3),
                "offered_per_s": args.rate,
                "seconds": args.seconds,
                "events": int(lat["events"]),
            },
            "events_bench_records": args.records,
        },
    )


if __name__ == "__main__":
    main()
