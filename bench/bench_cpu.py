"""CPU per event of one real ``tikstream run`` on distinct users (docs/BENCHMARKS.md, issue 14's workload).

``events_cpu_us_per_event``: N triggers, each of a different user, are pre-produced to a 4-partition topic;
one web events job maps five identifiers (email, phone and external_id hashed; ip and user agent) and two
properties (value, currency) plus the page URL. One ``tikstream run`` process (the CLI, as deployed) drains
them into a *counting receiver*: a small HTTP server in its own process that answers TikTok's success
envelope and counts the events of each ``/event/track/`` body (the emulator, which checks every event, stays
the correctness referee of the other benches and tests). The figure is the run process's own CPU time
(user + system, from ``/proc/<pid>/stat``) from the moment it reports ready (registry caught up, group
joined) until the receiver counted all N events, over N. Start-up (imports, registry, join) is left out.
``events_cpu_us_per_event_no_phone``: the same job without ``phone``.

Each figure is the median of ``--runs`` runs (a fresh consumer group each, over the same records).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
from common import bootstrap, delete_topics, median, merge_results, new_topic, produce_triggers

AUDIENCE = "bench_aud"
_TICKS = os.sysconf("SC_CLK_TCK")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605",
)
_AREAS = (201, 212, 213, 305, 312, 415, 503, 617, 702, 808, 917, 972)


def phone(i: int) -> str:
    """A different phone per user, in the notations a CDP holds (international, national, other countries)."""
    kind, n = i % 5, i // 5
    if kind == 0:
        return f"+1 ({_AREAS[n % len(_AREAS)]}) {200 + n // 10000 % 800:03d}-{n % 10000:04d}"
    if kind == 1:
        return f"{_AREAS[n % len(_AREAS)]}.{300 + n // 10000 % 700:03d}.{n % 10000:04d}"  # national: region US
    if kind == 2:
        return f"+44 7{400 + n // 100000 % 500:03d} {n % 100000:06d}"
    if kind == 3:
        return f"+49 151 {n % 100000000:08d}"
    return f"+33 6 {n // 1000000 % 100:02d} {n // 10000 % 100:02d} {n // 100 % 100:02d} {n % 100:02d}"


def trigger(i: int) -> bytes:
    rnd = random.Random(i)
    return orjson.dumps({
        "audience": AUDIENCE, "event": "enter", "user_id": f"u-{i:09d}", "ts": 1764000000 + i,
        "user": {
            "email": f" User.{i}@Example.com ", "phone": phone(i),
            "ip": f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
            "user_agent": _AGENTS[i % len(_AGENTS)], "order_total": round(10 + rnd.random() * 490, 2),
            "currency": "usd", "page": f"https://shop.example/p/{i % 997}?utm_source=tiktok",
        },
    })  # fmt: skip


def job(job_id: str, with_phone: bool) -> dict[str, Any]:
    identifiers = {"user.email": "email", "user.phone": "phone", "user_id": "external_id", "user.ip": "ip",
                   "user.user_agent": "user_agent"}
    if not with_phone:
        del identifiers["user.phone"]
    return {"id": job_id, "type": "web_events", "auth": "pixel", "audiences": [AUDIENCE], "triggers": ["enter"],
            "pixel_code": "C4ABCDEF", "event_name": "CompletePayment", "page_url_field": "user.page",
            "default_phone_region": "US", "identifiers": identifiers,
            "properties": {"user.order_total": "value", "user.currency": "currency"},
            "created_at": "2020-01-01T00:00:00Z"}


def produce(topic: str, n: int) -> None:
    produce_triggers(topic, n, record=lambda i: (f"u-{i:09d}".encode(), trigger(i)))


# -- the counting receiver (its own process: its CPU is not the run's) --------------------------------------

_OK = b'{"code":0,"message":"OK","request_id":"bench","data":{}}'


def serve(port: int) -> None:
    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None: ...

        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                count[0] += body.count(b'"event_id":')
            self._reply(_OK)

        def do_GET(self) -> None:
            self._reply(str(count[0]).encode())

        def do_DELETE(self) -> None:
            with lock:
                count[0] = 0
            self._reply(b"0")

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of proc(5))


def one_run(topic: str, n: int, with_phone: bool, receiver: str, work: Path) -> dict[str, float]:
    httpx.delete(receiver, timeout=10)
    group = f"cpu-{uuid.uuid4().hex[:8]}"
    status_port = free_port()
    env = {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": bootstrap(), "TIKSTREAM_TRIGGER_TOPICS": topic,
           "TIKSTREAM_CONFIG_TOPIC": f"{group}.jobs", "TIKSTREAM_DLQ_TOPIC": f"{group}.dlq",
           "TIKSTREAM_GROUP_ID": group, "TIKSTREAM_TIKTOK_BASE_URL": receiver + "/open_api/v1.3",
           "TIKSTREAM_HTTP_PORT": str(status_port), "TIKSTREAM_AUTH_FILE": str(work / "auth.json"),
           "TIKSTREAM_STATE_DIR": str(work / group)}
    job_file = work / f"{group}.json"
    job_file.write_bytes(orjson.dumps(job("cpu-web", with_phone)))
    applied = subprocess.run([sys.executable, "-m", "tikstream.cli", "jobs", "apply", "-f", str(job_file)],
                             env=env, capture_output=True, text=True)
    if applied.returncode != 0:
        raise RuntimeError(f"jobs apply failed: {applied.stderr[-2000:]}")
    log = open(work / f"{group}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "tikstream.cli", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tikstream run exited {proc.returncode}: see {work / group}.log")
            try:
                if httpx.get(f"http://127.0.0.1:{status_port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("tikstream run did not become ready")
            time.sleep(0.01)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        deadline = t0 + 900
        while (seen := int(httpx.get(receiver, timeout=10).text)) < n:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise TimeoutError(f"only {seen} of {n} events arrived")
            time.sleep(0.02)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
    return {"cpu_us": (cpu1 - cpu0) / n * 1e6, "per_s": n / (t1 - t0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    receiver_proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    receiver = f"http://127.0.0.1:{port}"
    topic = new_topic(4, "bench-cpu")
    try:
        produce(topic, args.records)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "auth.json").write_bytes(orjson.dumps(
                {"authorizations": {"pixel": {"kind": "events_token", "access_token": "bench-token"}}}))
            runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for _ in range(args.runs):
                for with_phone in (True, False):
                    runs[with_phone].append(one_run(topic, args.records, with_phone, receiver, work))
                    print(f"bench_cpu: phone={with_phone} {runs[with_phone][-1]}", file=sys.stderr, flush=True)
    finally:
        delete_topics(topic)
        receiver_proc.terminate()
        receiver_proc.wait(10)
    merge_results(args.out, {
        "events_cpu_us_per_event": round(median(r["cpu_us"] for r in runs[True]), 2),
        "events_cpu_us_per_event_no_phone": round(median(r["cpu_us"] for r in runs[False]), 2),
        "events_cpu": {
            "events_per_s": round(median(r["per_s"] for r in runs[True])),
            "events_per_s_no_phone": round(median(r["per_s"] for r in runs[False])),
            "runs_us": [round(r["cpu_us"], 2) for r in runs[True]],
            "runs_us_no_phone": [round(r["cpu_us"], 2) for r in runs[False]],
            "records": args.records,
        },
    })  # fmt: skip


if __name__ == "__main__":
    main()
