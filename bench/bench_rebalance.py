"""Rebalance gap: the longest pause in one partition's deliveries when an instance joins and when one leaves.

A steady load (``--rate`` web triggers per second, spread evenly over a 6-partition topic) runs through real
`tikstream run` processes and the emulator. Instance A runs alone; then B starts and joins the group (the
cooperative-sticky assignor moves half the partitions to it); then B gets SIGTERM and leaves (its partitions go
back to A). Each trigger carries its partition and sequence number as the event's ``order_id``, so the
emulator's received events say when each partition's records arrived.

For each window (A alone, B joining, B leaving) the figure is, over every partition, the longest time between
two consecutive first arrivals of its events (the arrival before the window counts, so a pause that spans the
window's start is seen whole). ``rebalance_gap_s`` is the worse of the join and leave windows; the steady
window shows what batching alone costs (``linger_ms`` and the request round trip). The same over all partitions
together (``*_any_partition_s``) shows that the stream as a whole does not stop.

What the join pause is made of (``join_log``): the old owner's revoke (flush and commit, tens of ms), then the
second round of the cooperative rebalance, about 1 s after the newcomer first joined (librdkafka paces a
member's JoinGroup requests), then the newcomer's fetch, ``linger_ms`` and request.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from common import bootstrap, delete_topics, merge_results, new_topic
from emulator_proc import admin_url, running_emulator

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
JOB = {"id": "rebalance-web", "type": "web_events", "auth": "pixel", "audiences": ["steady"], "triggers": ["enter"],
       "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
       "identifiers": {"user_id": "external_id"}, "properties": {"user.order": "order_id"}, "linger_ms": 100,
       "created_at": "2020-01-01T00:00:00Z"}


class Load:
    """Produces ``rate`` triggers/s round-robin over the partitions until stopped."""

    def __init__(self, topic: str, rate: int) -> None:
        self.topic, self.rate = topic, rate
        self.stop = threading.Event()
        self.produced = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join()

    def _run(self) -> None:
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": bootstrap(), "linger.ms": 5})
        start, n = time.monotonic(), 0
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while n < due:
                part = n % PARTITIONS
                rec = {"audience": "steady", "event": "enter", "user_id": f"u-{n}", "ts": int(time.time()),
                       "user": {"page": "https://shop.example/x", "order": f"{part}:{n}"}}
                p.produce(self.topic, key=f"u-{n}".encode(), value=orjson.dumps(rec), partition=part)
                n += 1
            p.poll(0)
            time.sleep(0.005)
        p.flush(60)
        self.produced = n


def arrivals(base_url: str) -> dict[int, list[float]]:
    """Per partition, the first arrival time of each of its events, sorted."""
    state = httpx.get(admin_url(base_url, "state") + "?events=1", timeout=120).json()
    first: dict[str, float] = {}
    for ev in state["events"].get("list", []):
        order = (ev.get("properties") or {}).get("order_id")
        if order is not None and (order not in first or ev["received_at"] < first[order]):
            first[order] = ev["received_at"]
    out: dict[int, list[float]] = {p: [] for p in range(PARTITIONS)}
    for order, at in first.items():
        out[int(order.split(":")[0])].append(at)
    return {p: sorted(v) for p, v in out.items()}


def longest_gap(times: dict[int, list[float]], start: float, end: float) -> tuple[float, dict[str, Any]]:
    """The longest pause of one partition in ``[start, end]``, and where it was (seconds after ``start``)."""
    worst, where = 0.0, {}
    for partition, ts in times.items():
        before = [t for t in ts if t < start][-1:]
        inside = before + [t for t in ts if start <= t <= end]
        for a, b in itertools.pairwise(inside):
            if b - a > worst:
                worst = b - a
                where = {"partition": partition, "from_s": round(a - start, 3), "to_s": round(b - start, 3)}
    return round(worst, 3), where


_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ tikstream\.processor: "
                   r"(partitions \w+) partitions=(.*)$")


def rebalance_log(logs: dict[str, str], start: float, end: float) -> list[str]:
    """The poll loops' assignment changes in ``[start, end]``: ``"+1.234s b: partitions assigned [...]"``."""
    out = []
    for name, text in logs.items():
        for line in text.splitlines():
            m = _LINE.match(line)
            if m is None:
                continue
            at = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            if start <= at <= end:
                parts = sorted(int(p) for p in re.findall(r", (\d+)\)", m.group(4)))
                out.append((at - start, f"{at - start:+.3f}s {name.removesuffix('.log')}: {m.group(3)} {parts}"))
    return [text for _, text in sorted(out)]


def unique(base_url: str) -> int:
    return int(httpx.get(admin_url(base_url, "state"), timeout=30).json()["events"]["unique"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--window", type=float, default=12.0, help="seconds of each window")
    ap.add_argument("--out")
    args = ap.parse_args()
    topic = new_topic(PARTITIONS, "bench-rebalance")
    group = f"rebal-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, running_emulator("--max-events-kept", "10000000") as base_url:
            work = Path(tmp)
            (work / "auth.json").write_bytes(orjson.dumps(
                {"authorizations": {"pixel": {"kind": "events_token", "access_token": "bench-token"}}}))
            env = {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": bootstrap(), "TIKSTREAM_TRIGGER_TOPICS": topic,
                   "TIKSTREAM_CONFIG_TOPIC": f"{group}.jobs", "TIKSTREAM_DLQ_TOPIC": f"{group}.dlq",
                   "TIKSTREAM_GROUP_ID": group, "TIKSTREAM_TIKTOK_BASE_URL": base_url, "TIKSTREAM_HTTP_PORT": "0",
                   "TIKSTREAM_AUTH_FILE": str(work / "auth.json")}
            (work / "job.json").write_bytes(orjson.dumps(JOB))
            subprocess.run([sys.executable, "-m", "tikstream.cli", "jobs", "apply", "-f", str(work / "job.json")],
                           env=env, check=True, capture_output=True)

            def start(name: str) -> subprocess.Popen[bytes]:
                log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
                proc = subprocess.Popen([sys.executable, "-m", "tikstream.cli", "run"], stdout=log, stderr=log,
                                        env={**env, "TIKSTREAM_STATE_DIR": str(work / name)})
                procs.append(proc)
                return proc

            load = Load(topic, args.rate)
            load.start()
            start("a")
            deadline = time.monotonic() + 120
            while unique(base_url) < args.rate and time.monotonic() < deadline:  # A delivers steadily
                time.sleep(0.2)
            time.sleep(2)
            steady_from = time.time()
            time.sleep(args.window)
            join_at = time.time()
            b = start("b")
            time.sleep(args.window)
            leave_at = time.time()
            b.send_signal(signal.SIGTERM)
            b_exit = b.wait(60)
            time.sleep(args.window)
            end_at = time.time()
            load.join()
            deadline = time.monotonic() + 120
            while unique(base_url) < load.produced and time.monotonic() < deadline:
                time.sleep(0.5)
            times = arrivals(base_url)
            delivered = sum(len(v) for v in times.values())
            logs = {p.name: p.read_text(errors="replace") for p in work.glob("*.log")}
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(60)
        delete_topics(topic)
    everything = {0: sorted(t for ts in times.values() for t in ts)}
    (join_gap, join_where), (leave_gap, leave_where) = (longest_gap(times, join_at, leave_at),
                                                        longest_gap(times, leave_at, end_at))
    figures: dict[str, Any] = {
        "rate_per_s": args.rate, "partitions": PARTITIONS, "window_s": args.window,
        "steady_gap_s": longest_gap(times, steady_from, join_at)[0], "join_gap_s": join_gap,
        "leave_gap_s": leave_gap, "join_worst": join_where, "leave_worst": leave_where,
        # the stream as a whole (any partition): kept partitions flow on, so it never stops for long
        "join_gap_any_partition_s": longest_gap(everything, join_at, leave_at)[0],
        "leave_gap_any_partition_s": longest_gap(everything, leave_at, end_at)[0],
        "join_log": rebalance_log(logs, join_at, leave_at), "leave_log": rebalance_log(logs, leave_at, end_at),
        "produced": load.produced, "delivered": delivered, "b_exit_code": b_exit,
        "revokes_logged": sum(text.count("partitions revoked") for text in logs.values()),
    }
    if delivered != load.produced:
        print(f"bench_rebalance: {load.produced - delivered} events not delivered", file=sys.stderr)
    merge_results(args.out, {"rebalance_gap_s": max(join_gap, leave_gap), "rebalance": figures})
    if delivered != load.produced or b_exit != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
