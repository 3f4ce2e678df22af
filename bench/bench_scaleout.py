"""Scale-out: the same pre-produced load through one and through two `tikstream run` instances in one group.

Each run uses a fresh consumer group over the same 6-partition topic of web triggers, real `tikstream run`
processes (the CLI, as deployed) and the emulator, until the emulator has accepted every event.
``scaleout_speedup`` is the two-instance rate over the one-instance rate; this machine has two cores, which
the broker and the emulator share. The rate is measured from a quarter of the events to the last, so process
start-up and the first joins and rebalances of the group are left out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
from common import bootstrap, delete_topics, merge_results, new_topic, produce_triggers, web_job
from emulator_proc import admin_url, running_emulator

ROOT = Path(__file__).resolve().parents[1]
JOB = web_job("scale-web")


def unique_events(base_url: str) -> int:
    return int(httpx.get(admin_url(base_url, "state"), timeout=30).json()["events"]["unique"])


def run(instances: int, topic: str, n: int, base_url: str, work: Path) -> float:
    httpx.post(admin_url(base_url, "reset"), timeout=30)
    group = f"scale-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TIKSTREAM_BOOTSTRAP_SERVERS": bootstrap(),
        "TIKSTREAM_TRIGGER_TOPICS": topic,
        "TIKSTREAM_CONFIG_TOPIC": f"{group}.jobs",
        "TIKSTREAM_DLQ_TOPIC": f"{group}.dlq",
        "TIKSTREAM_GROUP_ID": group,
        "TIKSTREAM_TIKTOK_BASE_URL": base_url,
        "TIKSTREAM_HTTP_PORT": "0",
        "TIKSTREAM_AUTH_FILE": str(work / "auth.json"),
        "TIKSTREAM_STATE_DIR": str(work / group),
    }
    job = work / "job.json"
    job.write_bytes(orjson.dumps(JOB))
    applied = subprocess.run(
        [sys.executable, "-m", "tikstream.cli", "jobs", "apply", "-f", str(job)],
        env=env,
        capture_output=True,
        text=True,
    )
    if applied.returncode != 0:
        raise RuntimeError(f"jobs apply failed: {applied.stderr[-2000:]}")
    launched = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tikstream.cli", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / f"{group}-{i}.log", "wb"),  # noqa: SIM115 - closed when the process ends
        )
        for i in range(instances)
    ]
    try:
        # steady state: from a quarter to all of the events, so process start-up and the group's first
        # joins and rebalances (each instance joining moves partitions) are not counted as throughput
        start, start_seen = None, 0
        while (seen := unique_events(base_url)) < n:
            if start is None and seen >= n // 4:
                start, start_seen = time.monotonic(), seen
            if time.monotonic() - launched > 600:
                raise TimeoutError(f"{instances} instance(s) did not deliver {n} events in 600 s")
            time.sleep(0.05)
        if start is None:
            start, start_seen = launched, 0
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    return (n - start_seen) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--out")
    args = ap.parse_args()
    topic = new_topic(6, "bench-scale")
    try:
        produce_triggers(topic, args.records)
        with tempfile.TemporaryDirectory() as tmp, running_emulator("--max-events-kept", "1000") as base_url:
            work = Path(tmp)
            (work / "auth.json").write_bytes(
                orjson.dumps({"authorizations": {"pixel": {"kind": "events_token", "access_token": "bench-token"}}})
            )
            one = run(1, topic, args.records, base_url, work)
            two = run(2, topic, args.records, base_url, work)
    finally:
        delete_topics(topic)
    merge_results(
        args.out,
        {
            "scaleout_one_instance_events_per_s": round(one),
            "scaleout_two_instances_events_per_s": round(two),
            "scaleout_speedup": round(two / one, 2),
            "scaleout_records": args.records,
        },
    )


if __name__ == "__main__":
    main()
