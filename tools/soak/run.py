"""`make soak`: one `tikstream run` under steady load for a long time, sampled every 10 s, then the loss verifier.

A 6-partition trigger topic is fed `--rate` triggers/s (default 2,000) for `--seconds` (default 1,200; `make soak`
passes `SOAK_SECONDS`), a quarter to each of four jobs, one per type: web, app and offline events and an
audience export (flushed every 10 s, users entering and leaving). The emulator answers 1 % of the requests with
a server error and throttles 5 %. Every 10 s the soak samples, of the tikstream process, its RSS, threads, open
file descriptors and CPU (from /proc), the consumer lag (its `/metrics`), and the delivery latency of the events
the emulator received in those 10 s (receive time minus the wall time the trigger was produced, carried in the
event's `order_id`). After the load it waits until the emulator holds everything, stops tikstream with SIGTERM,
and runs the loss verifier of `make chaos` (tools/chaos/verify.py): every event arrived (distinct event ids per
source = triggers produced for it), the audience is exactly the expected members, one audience for the job,
nothing in the DLQ, exit status 0. `analysis.py` judges the goals; `plot.py` draws the series.

    python tools/soak/run.py [--seconds 1200] [--rate 2000] [--out bench/results/soak.json] [--plot docs/soak.svg]

Exits 1 when something was lost or a goal was missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tools" / "chaos"), str(HERE)]
from analysis import Sample, latency_window, summarize  # noqa: E402
from emulator_proc import admin_url, running_emulator  # noqa: E402
from plot import svg  # noqa: E402
from verify import audiences_named, dlq_count, emulator_state, expected_members, unique_by_source  # noqa: E402
from workspace import Workspace, paced_load  # noqa: E402

PY = sys.executable
INTERVAL = 10.0
SOURCES = {"web": "C4ABCDEF", "app": "7200000000000000001", "offline": "1616318632825"}


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def jobs() -> list[dict[str, Any]]:
    common = {"triggers": ["enter"], "identifiers": {"user_id": "external_id", "user.email": "email"},
              "properties": {"user.order": "order_id", "user.total": "value", "user.currency": "currency"},
              "created_at": "2020-01-01T00:00:00Z"}
    return [
        {"id": "soak-web", "type": "web_events", "auth": "pixel-token", "audiences": ["soak_web"],
         "pixel_code": SOURCES["web"], "event_name": "Purchase", "page_url_field": "user.page", **common},
        {"id": "soak-app", "type": "app_events", "auth": "app-token", "audiences": ["soak_app"],
         "app_id": SOURCES["app"], "app_name": "Soak", "event_name": "Purchase", **common},
        {"id": "soak-offline", "type": "offline_events", "auth": "store-offline", "audiences": ["soak_offline"],
         "event_set_id": SOURCES["offline"], "event_name": "Purchase", **common},
        {"id": "soak-aud", "type": "audience_export", "auth": "tiktok-main", "audience": "soak_aud",
         "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"},
         "flush_interval_seconds": 10, "created_at": "2020-01-01T00:00:00Z"},
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stats(pid: int) -> tuple[float, int, int, float]:
    """(RSS MiB, threads, open descriptors, CPU seconds) of ``pid`` from /proc."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss / 1024.0, threads, fds, cpu


def consumer_lag(metrics_url: str) -> int:
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("tikstream_consumer_lag{")))


def busiest() -> list[str]:
    """The machine's busiest processes now (CPU %, command line cut short): what else ran."""
    out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    return [" ".join(line.split())[:110] for line in out.splitlines()[1:9]]


def machine() -> dict[str, Any]:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    return {"cpus": os.cpu_count(), "ram_gib": round(int(mem.split()[1]) / 1024 / 1024, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(), "busiest_at_start": busiest()}


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws = ws = Workspace.new("soak")
        self.bootstrap, self.triggers, self.dlq, self.work = ws.bootstrap, ws.triggers, ws.dlq, ws.work
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.expected = dict.fromkeys(SOURCES.values(), 0)
        self.members: dict[str, bool] = {}
        self.emails: dict[str, str] = {}
        self.produced = 0
        self.samples: list[Sample] = []
        self.loading = True

    def env(self, base_url: str) -> dict[str, str]:
        return self.ws.env(base_url, http_port=str(self.http_port), state_dir=str(self.work / "state"))

    def start(self, base_url: str) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(self.triggers, 6, 1)])[self.triggers].result(30)
        files = []
        for job in jobs():
            path = self.work / f"{job['id']}.json"
            path.write_bytes(orjson.dumps(job))
            files += ["-f", str(path)]
        subprocess.run([PY, "-m", "tikstream.cli", "jobs", "apply", *files], env=self.env(base_url), check=True)
        out = open(self.work / "tikstream.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([PY, "-m", "tikstream.cli", "run"], env=self.env(base_url), stdout=out,
                                     stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"tikstream not ready in 60 s; see {self.work / 'tikstream.log'}")

    # -- load -------------------------------------------------------------------------------------------
    def trigger(self, n: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
        ms = int(time.time() * 1000)
        kind = ("web", "app", "offline", "aud")[n % 4]
        if kind == "aud":
            uid = f"a-{rng.randrange(self.args.audience_pool)}"
            event = "enter" if rng.random() < 0.7 else "exit"
            self.emails[uid] = f"{uid}@example.com"
            self.members[uid] = event == "enter"
            return uid, {"audience": "soak_aud", "event": event, "user_id": uid, "ts": ms,
                         "user": {"email": self.emails[uid]}}
        uid = f"{kind}-{n}"
        self.expected[SOURCES[kind]] += 1
        return uid, {"audience": f"soak_{kind}", "event": "enter", "user_id": uid, "ts": ms,
                     "user": {"email": f"{uid}@example.com", "page": "https://shop.example/p", "total": n % 50,
                              "currency": "USD", "order": f"{n}:{ms}"}}

    def produce(self, stop: threading.Event) -> None:
        rng = random.Random(7)
        self.produced = paced_load(self.bootstrap, self.triggers, self.args.rate, stop,
                                   lambda n: self.trigger(n, rng))

    # -- sampling ---------------------------------------------------------------------------------------
    def sample(self, t: float, state_url: str, since: float, cpu_before: float) -> tuple[float, float]:
        """One sample at ``t``; returns (the newest receive time seen, the process's CPU seconds)."""
        assert self.proc is not None
        rss, threads, fds, cpu = proc_stats(self.proc.pid)
        lag = consumer_lag(f"http://127.0.0.1:{self.http_port}/metrics")
        listed = emulator_state(state_url, f"?events=1&since={since!r}")["events"].get("list", [])
        latencies = []
        for ev in listed:
            order = str(ev.get("properties", {}).get("order_id", ""))
            if ":" in order and not ev.get("duplicate"):
                latencies.append(ev["received_at"] - int(order.split(":")[1]) / 1000.0)
            since = max(since, ev["received_at"])
        p50, p99, worst = latency_window(latencies)
        self.samples.append(Sample(round(t, 1), round(rss, 1), threads, fds, lag, len(latencies), p50, p99, worst,
                                   self.loading, round((cpu - cpu_before) / INTERVAL * 100, 1),
                                   os.getloadavg()[0]))
        return since, cpu

    def converged(self, state_url: str, want_members: set[str]) -> bool:
        state = emulator_state(state_url, "?members=1")
        audiences = audiences_named(state, "soak_aud")
        members = set(audiences[0].get("members", [])) if len(audiences) == 1 else set()
        got = unique_by_source(state)
        return all(got.get(s, 0) >= n for s, n in self.expected.items()) and members == want_members


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS") or 1200))
    ap.add_argument("--rate", type=int, default=2000, help="triggers per second")
    ap.add_argument("--audience-pool", type=int, default=50_000, help="distinct users of the audience job")
    ap.add_argument("--throttle-rate", type=float, default=0.05)
    ap.add_argument("--error-rate", type=float, default=0.01)
    ap.add_argument("--settle", type=float, default=300, help="seconds allowed to converge after the load")
    ap.add_argument("--note", default="", help="what else ran on the machine, recorded with the results")
    ap.add_argument("--out", help="write the results (JSON) here")
    ap.add_argument("--plot", help="write the SVG plot here")
    args = ap.parse_args()
    soak = Soak(args)
    emulator_args = ["--tokens", str(ROOT / "examples" / "auth.json"), "--throttle-rate", str(args.throttle_rate),
                     "--error-rate", str(args.error_rate), "--audience-ready-seconds", "2",
                     "--min-audience-size", "0", "--max-events-kept", str(max(100_000, args.rate * 60)),
                     "--seed", "3"]
    host = machine()
    with running_emulator(*emulator_args) as base_url:
        state_url = admin_url(base_url, "state")
        soak.start(base_url)
        assert soak.proc is not None
        stop = threading.Event()
        producer = threading.Thread(target=soak.produce, args=(stop,))
        started = time.monotonic()
        since, cpu = time.time(), proc_stats(soak.proc.pid)[3]
        producer.start()
        log(f"load {args.rate}/s for {args.seconds:.0f}s; sampling every {INTERVAL:.0f}s; logs in {soak.work}")
        tick = 1
        want: set[str] | None = None
        deadline = None
        while True:
            time.sleep(max(0.0, started + tick * INTERVAL - time.monotonic()))
            since, cpu = soak.sample(tick * INTERVAL, state_url, since, cpu)
            s = soak.samples[-1]
            log(f"t={s.t:.0f}s rss={s.rss_mib}MiB threads={s.threads} fds={s.fds} lag={s.lag} "
                f"events={s.events} p99={s.p99_s} cpu={s.cpu_pct}% load={s.loadavg:.1f}")
            tick += 1
            if soak.loading and time.monotonic() - started >= args.seconds:
                stop.set()
                producer.join()
                soak.loading = False
                want = expected_members(soak.members, soak.emails)
                deadline = time.monotonic() + args.settle
                log(f"produced {soak.produced} triggers; waiting for convergence")
            if want is not None and (soak.converged(state_url, want) or time.monotonic() > (deadline or 0)):
                break
        settled = time.monotonic() - started - args.seconds
        soak.proc.send_signal(signal.SIGTERM)
        code = soak.proc.wait(60)
        state = emulator_state(state_url, "?members=1")
    audiences = audiences_named(state, "soak_aud")
    members = set(audiences[0].get("members", [])) if len(audiences) == 1 else set()
    got = unique_by_source(state)
    missing = {s: n - got.get(s, 0) for s, n in soak.expected.items() if got.get(s, 0) < n}
    loss = {"triggers_produced": soak.produced, "events_expected": soak.expected, "events_unique_received": got,
            "events_missing": missing, "duplicates": state["events"]["duplicates"],
            "audiences_for_job": len(audiences), "audience_members_expected": len(want or ()),
            "audience_members_actual": len(members), "audience_exact": members == want,
            "dlq_records": dlq_count(soak.bootstrap, soak.dlq), "exit_code": code,
            "seconds_to_converge_after_load": round(settled, 1)}
    lost_nothing = (not missing and len(audiences) == 1 and members == want and loss["dlq_records"] == 0
                    and code == 0)
    summary = summarize(soak.samples)
    host["loadavg_at_end"] = os.getloadavg()
    host["busiest_at_end"] = busiest()
    host["note"] = args.note
    result = {"soak": {"seconds": args.seconds, "rate_per_s": args.rate, "throttle_rate": args.throttle_rate,
                       "error_rate": args.error_rate, "sample_interval_s": INTERVAL,
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": host,
                       "summary": summary, "loss": {**loss, "lost_nothing": lost_nothing},
                       "ok": summary["ok"] and lost_nothing,
                       "samples": [s.to_json() for s in soak.samples]}}
    print(orjson.dumps({k: v for k, v in result["soak"].items() if k != "samples"},
                       option=orjson.OPT_INDENT_2).decode())
    if args.out:
        Path(args.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    if args.plot:
        title = (f"make soak: {args.rate} triggers/s for {args.seconds / 60:.0f} min, "
                 f"{args.error_rate:.0%} errors, {args.throttle_rate:.0%} throttling ({result['soak']['date']})")
        Path(args.plot).write_text(svg(soak.samples, title))
    log("PASS" if result["soak"]["ok"] else f"FAIL: see the figures; logs in {soak.work}")
    return 0 if result["soak"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
