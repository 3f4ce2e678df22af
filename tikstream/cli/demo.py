"""``tikstream demo``: the local demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tikstream.cli.common import RAW, require_kafka, settings_options
from tikstream.settings import Settings

EPILOG_DEMO = """examples:
  make demo                       # the same, after setting up .venv and a local Kafka broker
  tikstream demo                  # broker from TIKSTREAM_BOOTSTRAP_SERVERS (default 127.0.0.1:9092)
  tikstream demo --triggers 300 --duration 5
  tikstream demo stop             # or: make demo-down (also stops Kafka if the demo started it)

Starts the emulator and `tikstream run` (and Prometheus, on deploy/prometheus, when `prometheus` is on PATH:
apt-get install prometheus) in the background (pid files and logs in .demo/), applies the jobs in
examples/, produces sample triggers with a few poison records, and prints a summary checked against the
emulator. The services keep running until `tikstream demo stop`.
"""


def add_demo_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the local demo (emulator, tikstream, sample jobs and triggers)",
                          formatter_class=RAW, epilog=EPILOG_DEMO,
                          description="The local demo: the first command a newcomer runs.")
    demo.add_argument("action", nargs="?", choices=("start", "stop"), default="start",
                      help="start (default) or stop the demo's services")
    demo.add_argument("--triggers", type=int, default=1500, help="valid triggers to produce (default 1500)")
    demo.add_argument("--duration", type=float, default=20.0, help="seconds to spread them over (default 20)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generator (default 7)")
    demo.add_argument("--emulator-port", type=int, default=18080, help="default 18080; taken or 0: a free port")
    demo.add_argument("--http-port", type=int, default=9464, help="tikstream's port; default 9464, else free")
    demo.add_argument("--prometheus-port", type=int, default=9090,
                      help="Prometheus (when on PATH); default 9090, taken or 0: a free port")
    demo.add_argument("--dir", type=Path, default=Path(".demo"), help="pid files, logs, auth file (.demo)")
    demo.add_argument("--examples", type=Path, default=Path("examples"), help="job files to apply (examples)")
    demo.add_argument("--namespace", help="topic and group prefix (default demo-<UTC time>)")
    demo.add_argument("--flush-interval", type=int, default=10, help="the audience job's flush (default 10 s)")
    demo.add_argument("--settle-timeout", type=float, default=120.0, help="seconds to wait for the numbers")
    settings_options(demo, ("bootstrap_servers",))



def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.demo.driver import DemoOptions, run_demo, stop_demo

    if args.action == "stop":
        return stop_demo(args.dir, sys.stdout)
    require_kafka(settings)
    options = DemoOptions(
        directory=args.dir, examples=args.examples, triggers=args.triggers, duration=args.duration, seed=args.seed,
        emulator_port=args.emulator_port, http_port=args.http_port, prometheus_port=args.prometheus_port,
        namespace=args.namespace,
        flush_interval=args.flush_interval, settle_timeout=args.settle_timeout,
    )  # fmt: skip
    return run_demo(settings, options, dict(os.environ), sys.stdout)
