"""`make chaos`: a scripted fault run on one machine, then a verifier that exits non-zero on any loss.

Three `tikstream run` instances in one consumer group read a 12-partition trigger topic under steady load,
while a random instance is SIGKILLed and restarted every few seconds, the Kafka broker is restarted once
(when `make kafka-up` started it), and the emulator throttles 20 % and fails 5 % of requests. Then the
verifier compares what reached the emulator with what was produced:

- every web event present (one event per enter trigger, identified by its hashed external_id);
- duplicates only as repeats of the same event_id (TikTok deduplicates those);
- the audience exactly the expected members, and one audience only for the job;
- nothing valid in the DLQ.

It also says where the time after the load went (``timeline.py``): ``profile.json`` beside the instance logs,
and its headline (when the web events and the audience converged, when each TikTok path was last called) under
``profile`` in the figures.

    python tools/chaos/run.py [--seconds 60] [--instances 3] [--rate 1000] [--short]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from emulator_proc import admin_url, running_emulator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timeline import Timeline, profile, summary  # noqa: E402
from verify import audiences_named, dlq_count, emulator_state, events_by_user, expected_members  # noqa: E402
from workspace import Workspace, paced_load  # noqa: E402

PY = sys.executable


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws = ws = Workspace.new("chaos")
        self.bootstrap, self.triggers, self.config, self.dlq, self.group, self.work = (
            ws.bootstrap, ws.triggers, ws.config, ws.dlq, ws.group, ws.work)
        self.instances: list[subprocess.Popen[bytes] | None] = []
        self.expected_web: set[str] = set()  # sha256(user_id) of web enter triggers
        self.members: dict[str, bool] = {}  # audience user -> member after its last trigger
        self.emails: dict[str, str] = {}
        self.produced = 0
        self.kills = 0
        self.broker_restarted = False

    # -- set-up -----------------------------------------------------------------------------------------
    def env(self, base_url: str) -> dict[str, str]:
        return self.ws.env(base_url)

    def setup(self, base_url: str) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(self.triggers, self.args.partitions, 1)])[self.triggers].result(30)
        jobs = [
            {"id": "chaos-web", "type": "web_events", "auth": "pixel-token", "audiences": ["chaos_web"],
             "triggers": ["enter"], "pixel_code": "C4ABCDEF", "event_name": "Purchase",
             "page_url_field": "user.page", "identifiers": {"user_id": "external_id", "user.email": "email"},
             "properties": {"user.total": "value"}, "linger_ms": 200, "created_at": "2020-01-01T00:00:00Z"},
            {"id": "chaos-aud", "type": "audience_export", "auth": "tiktok-main", "audience": "chaos_aud",
             "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"},
             "flush_interval_seconds": 3, "created_at": "2020-01-01T00:00:00Z"},
        ]
        for job in jobs:
            (self.work / f"{job['id']}.json").write_bytes(orjson.dumps(job))
        files = [a for j in jobs for a in ("-f", str(self.work / f"{j['id']}.json"))]
        subprocess.run([PY, "-m", "tikstream.cli", "jobs", "apply", *files], env=self.env(base_url), check=True)

    def start_instance(self, i: int, base_url: str) -> None:
        env = {**self.env(base_url), "TIKSTREAM_STATE_DIR": str(self.work / f"state-{i}")}
        err = open(self.work / f"instance-{i}.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen([PY, "-m", "tikstream.cli", "run"], env=env, stdout=err, stderr=err)
        if i < len(self.instances):
            self.instances[i] = proc
        else:
            self.instances.append(proc)

    # -- load and faults --------------------------------------------------------------------------------
    def produce(self, stop: threading.Event) -> None:
        rng = random.Random(7)
        pool = max(200, self.args.rate // 2)

        def record(n: int) -> tuple[str, dict[str, Any]]:
            if n % 2 == 0:
                uid = f"w-{n}"
                self.expected_web.add(hashlib.sha256(uid.encode()).hexdigest())
                return uid, {"audience": "chaos_web", "event": "enter", "user_id": uid, "ts": 1_800_000_000 + n,
                             "user": {"email": f"{uid}@example.com", "page": "https://shop.example/x",
                                      "total": n % 50}}
            uid = f"a-{rng.randrange(pool)}"
            event = "enter" if rng.random() < 0.7 else "exit"
            self.emails[uid] = f"{uid}@example.com"
            self.members[uid] = event == "enter"
            return uid, {"audience": "chaos_aud", "event": event, "user_id": uid, "ts": 1_800_000_000 + n,
                         "user": {"email": self.emails[uid]}}

        self.produced = paced_load(self.bootstrap, self.triggers, self.args.rate, stop, record)

    def faults(self, stop: threading.Event, base_url: str) -> None:
        rng = random.Random(11)
        started = time.monotonic()
        next_kill = started + self.args.kill_every
        restart_at = started + self.args.seconds / 2
        while not stop.wait(0.2):
            now = time.monotonic()
            if now >= next_kill:
                i = rng.randrange(len(self.instances))
                proc = self.instances[i]
                if proc is not None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                self.kills += 1
                log(f"SIGKILL instance {i}; restarting it")
                self.start_instance(i, base_url)
                next_kill = now + self.args.kill_every
            if self.args.restart_broker and not self.broker_restarted and now >= restart_at:
                self.broker_restarted = True
                r = subprocess.run([PY, str(ROOT / "tools" / "kafka" / "local.py"), "restart"], capture_output=True,
                                   text=True)
                log(f"broker restart: {r.stdout.strip() or r.stderr.strip()}")

    # -- verification -----------------------------------------------------------------------------------
    def observed(self, base_url: str) -> tuple[set[str], int, int, list[dict[str, Any]]]:
        state = emulator_state(admin_url(base_url, "state"), "?events=1&members=1&event_source_id=C4ABCDEF")
        ids = events_by_user(state)
        distinct_ids_per_user = max((len(v) for v in ids.values()), default=0)
        return set(ids), state["events"]["duplicates"], distinct_ids_per_user, audiences_named(state, "chaos_aud")

    def expected_members(self) -> set[str]:
        return expected_members(self.members, self.emails)

    def dlq_count(self) -> int:
        return dlq_count(self.bootstrap, self.dlq)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--rate", type=int, default=1000, help="triggers per second")
    ap.add_argument("--kill-every", type=float, default=8)
    ap.add_argument("--no-broker-restart", dest="restart_broker", action="store_false")
    ap.add_argument("--throttle-rate", type=float, default=0.2)
    ap.add_argument("--error-rate", type=float, default=0.05)
    ap.add_argument("--settle", type=float, default=180, help="seconds allowed to converge after the load")
    ap.add_argument("--short", action="store_true", help="the version `make test` runs: 20 s, 2 instances")
    ap.add_argument("--out", help="merge the figures into this JSON file under the key `chaos`")
    args = ap.parse_args()
    if args.short:
        args.seconds, args.instances, args.rate, args.kill_every, args.restart_broker = 20, 2, 300, 6, False
    run = Run(args)
    emulator_args = ["--tokens", str(ROOT / "examples" / "auth.json"), "--throttle-rate", str(args.throttle_rate),
                     "--error-rate", str(args.error_rate), "--audience-ready-seconds", "2",
                     "--min-audience-size", "0", "--max-events-kept", "10000000", "--seed", "3"]
    with running_emulator(*emulator_args) as base_url:
        run.setup(base_url)
        for i in range(args.instances):
            run.start_instance(i, base_url)
        stop = threading.Event()
        threads = [threading.Thread(target=run.produce, args=(stop,)),
                   threading.Thread(target=run.faults, args=(stop, base_url))]
        for t in threads:
            t.start()
        log(f"load {args.rate}/s for {args.seconds:.0f}s on {args.instances} instances; faults running")
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        load_end, load_end_wall = time.monotonic(), time.time()
        log(f"produced {run.produced} triggers; {run.kills} kills; waiting for convergence")
        want_members = run.expected_members()
        deadline = load_end + args.settle
        timeline = Timeline()
        while True:
            seen, dups, ids_per_user, audiences = run.observed(base_url)
            members = set(audiences[0].get("members", [])) if len(audiences) == 1 else set()
            timeline.add(time.monotonic() - load_end, len(run.expected_web - seen), len(members ^ want_members))
            done = run.expected_web <= seen and members == want_members
            if done or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        recovered = time.monotonic() - load_end
        full_profile = profile(admin_url(base_url, ""), load_end_wall, run.work, timeline)
        (run.work / "profile.json").write_bytes(orjson.dumps(full_profile, option=orjson.OPT_INDENT_2))
        codes = []
        for proc in run.instances:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                codes.append(proc.wait(60))
        missing = run.expected_web - seen
        figures = {
            "triggers_produced": run.produced, "web_events_expected": len(run.expected_web),
            "web_events_missing": len(missing), "duplicates_same_event_id": dups,
            "max_event_ids_per_trigger": ids_per_user, "audiences_for_job": len(audiences),
            "audience_members_expected": len(want_members), "audience_members_actual": len(members),
            "audience_exact": members == want_members, "dlq_records": run.dlq_count(), "kills": run.kills,
            "broker_restarted": run.broker_restarted, "seconds_to_converge_after_load": round(recovered, 1),
            "instance_exit_codes": codes, "profile": summary(full_profile),
        }
        print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
        if args.out:
            path = Path(args.out)
            current = orjson.loads(path.read_bytes()) if path.exists() else {}
            current["chaos"] = {**figures, "seconds": args.seconds, "instances": args.instances,
                                "rate_per_s": args.rate, "throttle_rate": args.throttle_rate,
                                "error_rate": args.error_rate}
            path.write_bytes(orjson.dumps(current, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        ok = (not missing and ids_per_user <= 1 and len(audiences) == 1 and members == want_members
              and figures["dlq_records"] == 0 and all(c == 0 for c in codes))
        log("PASS: nothing lost" if ok else f"FAIL: see figures; logs in {run.work}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
