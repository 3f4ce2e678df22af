"""`make bench`: run every benchmark, merge their figures into one JSON file, and write docs/BENCHMARKS.md.

Each benchmark is a script in bench/ that takes ``--out FILE`` and merges its keys into that file.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
BENCHES = [
    "bench_core.py",
    "bench_emulator.py",
    "bench_normalise.py",
    "bench_decode.py",
    "bench_events.py",
    "bench_cpu.py",
    "bench_exactness.py",
    "bench_audience.py",
    "bench_scaleout.py",
    "bench_rebalance.py",
]
GOALS = {
    "core_ratio": (">=", 0.5),
    "events_ratio": (">=", 0.2),
    "events_latency_p99_s": ("<=", 1.0),
    "batch_fill": (">=", 0.9),
    "events_cpu_us_per_event": ("<=", 5),
    "audience_batch_rss_mb": ("<=", 300),
    "emulator_events_per_s": (">=", 100_000),
    "rebalance_gap_s": ("<=", 1.0),
}


READING = """## Reading these figures

- Everything runs on one 2-core machine: the Kafka broker, the emulator, tikstream and the load generators
  share it, so figures move by 20-50 % between runs with the machine's load. Each ratio is taken side by side
  in the same run.
- `core_ratio` (consume, decode, route, a no-op sink, commits) against the bare `consume(1000)` loop: the
  JSON parse of each record alone costs about as much as the bare loop's whole per-record cost, so 0.5 is
  at the edge of what one CPython process can do; measured 0.40-0.48.
- `events_e2e_per_s`: Kafka -> poll loop -> web sink (3 hashed identifiers, properties, page) -> emulator
  over HTTP, 1,000 events per request. 22-42k events/s here, 1.8-3.5 times RudderStack's 12k/s transform-only
  figure per core, one request per 1,000 events where Segment sends one per event. The goal of ten times
  (about 120k/s) is not reached: the poll thread costs about 20 us per event (decode 2.4, mapping and
  hashing about 9, the rest sink and loop), and the emulator takes another 6-14 us per event on the same two
  cores. `events_ratio` (0.03) compares with a bare loop that does no work at all; closing it needs the
  mapping spread over processes or a native mapper.
- `emulator_events_per_s`: valid 1,000-event web batches (3 hashed identifiers, properties, page: ~570 KB)
  posted over 4 keep-alive connections to the emulator with its default three track-check worker processes
  (`--check-workers`) and its msgspec fast path; `emulator_cpu_ms_per_1000_events` is the CPU of the whole
  emulator (serving process and workers). The load generator shares the two cores. Checking in the serving
  process instead (`--check-workers 0`) caps it near one core.
- `scaleout_*`: the same load through one and two `tikstream run` processes in one group, measured in the
  steady state (a quarter of the events to the last). Two cores are shared with the broker and the emulator,
  so the speed-up is 0.89-1.38x here: with one instance the machine is already nearly saturated.
- `rebalance_gap_s`: a steady 300 triggers/s over 6 partitions through `tikstream run` A alone, then B
  joining, then B leaving (SIGTERM); the longest time any one partition went without a delivery at the
  emulator during the join or the leave (`rebalance.steady_gap_s` is the same with A alone: what `linger_ms`
  and the round trip cost anyway). Only the partitions that move pause; the others are neither revoked nor
  paused (`rebalance.join_gap_any_partition_s`: the stream as a whole). Measured 1.23-1.27 s for a join and
  0.4-0.7 s for a leave: the goal of 1 s is not met for a join. `rebalance.join_log` shows why: the old owner
  revokes in tens of ms, then the cooperative protocol's second round ends about 1 s after the newcomer first
  joined (librdkafka paces JoinGroup requests; the same at heartbeats of 100, 300 and 1,000 ms), and the
  newcomer needs ~0.2 s more (fetch, `linger_ms`, request).
- `chaos`: `make chaos` (3 instances, SIGKILL every 8 s, one broker restart, 20 % throttling and 5 % errors at the
  emulator); zero events missing, one audience with exactly the expected members, nothing in the DLQ.
  `seconds_to_converge_after_load` was 183.6 s and over 180 s (not converged in the time allowed) before issue 13;
  20.2 s and 28.2 s after, 14.3 s once merged with the ops and streaming work (22.0 s one change earlier). The
  profile (`profile` here, the whole timeline in `profile.json` beside the instance logs) showed where it went: the
  audience writer applied one operation per processing wait (three instances ship an APPEND and a REMOVE every 3 s;
  each update waited ~3.5 s), its eager writers group hardly settled under the kills, and a file read per operation.
  Now an alternating backlog is merged into one REMOVE and one APPEND, readiness is polled from 0.5 s (capped at 5
  s, was 30 s), the writers group is cooperative, sessions are 6 s, clients reconnect within 1 s of the broker
  restart, and retries are capped lower. What is left is mostly the faults themselves: the partitions of the
  instance killed last wait for its session to end, then move again when it rejoins.
- `events_cpu_us_per_event` (bench_cpu): one real `tikstream run` (the CLI) drains 200,000 pre-produced
  triggers, each of a different user, into a counting receiver (a tiny HTTP server in its own process that
  answers TikTok's success envelope); a web job maps email, phone, external_id (hashed), ip, user agent,
  value, currency and the page URL. The figure is the run process's own CPU time (`/proc/<pid>/stat`, user + system)
  from ready to the last event counted, over the events. `_no_phone`: the same job without phone.
  `exactness` (bench_exactness): the native core's differential test at 100,000 triggers per job and its phone
  agreement test at 1,000,000 numbers per policy.

## The native events core (issue 14)

Each sealed batch is mapped in one call to `tikstream_native` (native/, Rust through PyO3): it parses the
record values (serde_json), reads the paths, normalises (email, phones on the `phonenumbers` metadata,
IPv4, texts), hashes (SHA-256 with the CPU's SHA instructions; BLAKE2b for event ids) and writes each
event's JSON as orjson would. Python keeps offsets, batching, HTTP, the DLQ and metrics, and maps what
the core leaves.

| `tikstream run`, 200,000 distinct users | before (Python) | after (native) | RudderStack, transform only |
|---|---|---|---|
| CPU per event, phone mapped | 223 µs | 50 µs | 84 µs on a quiet machine (4.7 x the scaled 18 µs) |
| CPU per event, no phone | 86.9 µs | 46.7 µs | |

Medians of three runs each, measured on this shared 2-core machine (2026-12-07, 23:40-23:57 UTC) while
other engineers' tests and benches ran (load average 2-4), so absolute figures are well above what a quiet
core gives: the issue measured the same "before" at 79 and 33 µs, 2.6-2.8 times less, and the RudderStack
figure on a quiet machine. Compare the columns, not the peer row; scaled the same way the "after" column
would be about 18 µs with phone and 17 µs without. Phones now cost about 3 µs (they were 136). The goal of
5 µs is not reached. Where the remaining time goes (cProfile of
the poll-loop thread, 30,000 events, native core): the core's `map_batch` 19 %; `records.decode` (orjson
and the Trigger) 20 %; the processor's own per-record work (`_handle`, `_route`, `_deliver`) 21 %; routing
8 %; the sink's per-record `submit` (Item, owed offsets) 9 %; `consume` 8 %; sink polling and metrics 8 %;
releasing offsets 4 %. The sender threads (httpx) add about a fifth on top of the poll thread. So four
fifths of what is left is the per-record Python around the transform: the next step is the issue's second
move, a poll loop that decodes, routes and hands over a batch (not a record) when only events jobs want it.
"""


def machine() -> dict[str, object]:
    import confluent_kafka

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_markdown(results: dict[str, object], path: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py) from `bench/results/latest.json`.",
        "Reproduce: `make setup kafka-up bench`.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in dict(results.get("machine", {})).items()]  # type: ignore[call-overload]
    lines += ["", "## Figures", "", "| figure | value | goal |", "|---|---|---|"]
    for key, value in sorted(results.items()):
        if key == "machine" or isinstance(value, dict):
            continue
        goal = GOALS.get(key)
        mark = f"{goal[0]} {goal[1]}" if goal else ""
        lines.append(f"| `{key}` | {value} | {mark} |")
    for key, value in sorted(results.items()):
        if isinstance(value, dict) and key != "machine":
            lines += ["", f"### {key}", "", "| figure | value |", "|---|---|"]
            lines += [f"| `{k}` | {v} |" for k, v in value.items()]
    lines += ["", READING]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    out = Path(args.out).resolve()  # the benches run from bench/: hand them an absolute path
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps({"machine": machine()}))
    failed = []
    for name in args.only or BENCHES:
        script = HERE / name
        if not script.exists():
            print(f"bench: {name} not present, skipped", file=sys.stderr)
            continue
        print(f"bench: {name}", file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, str(script), "--out", str(out)], cwd=HERE).returncode != 0:
            failed.append(name)
    results = orjson.loads(out.read_bytes())
    chaos = out.parent / "chaos.json"  # written by `make chaos`, which takes minutes and runs apart
    shown = {**results, **(orjson.loads(chaos.read_bytes()) if chaos.exists() else {})}
    write_markdown(shown, HERE.parent / "docs" / "BENCHMARKS.md")
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
