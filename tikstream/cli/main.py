"""The ``tikstream`` entry point: the parser and the dispatch to each command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tikstream.cli.auth import add_auth_parser, cmd_auth_check, cmd_auth_login
from tikstream.cli.common import RAW, require_kafka, settings_from, settings_options
from tikstream.cli.demo import add_demo_parser, cmd_demo
from tikstream.cli.dlq import add_dlq_parser, cmd_dlq_replay
from tikstream.cli.jobs import JOB_COMMANDS, add_jobs_parser
from tikstream.cli.run import cmd_run
from tikstream.errors import JobConfigError, TikstreamError

EPILOG_MAIN = """examples:
  make demo                                      # everything local: Kafka, emulator, tikstream, sample data
  tikstream run                                  # the service (settings from TIKSTREAM_* variables)
  tikstream jobs validate -f examples/web-events.yaml
  tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml
  tikstream jobs status
  tikstream auth login --name tiktok-main --app-id 7310000000000000000
  tikstream auth check tiktok-main
  tikstream dlq replay --job web-purchase --dry-run
  tikstream emulator --port 18080 --tokens examples/auth.json

Every command takes -h for its options and examples. Settings come from TIKSTREAM_<NAME> variables and can
be overridden per command with --<name> (docs/architecture.md §7). Job reference: docs/jobs.md.
"""
EPILOG_RUN = """examples:
  tikstream run
  TIKSTREAM_BOOTSTRAP_SERVERS=kafka:9092 TIKSTREAM_AUTH_FILE=/run/secrets/auth.json tikstream run
  tikstream run --tiktok-base-url http://127.0.0.1:18080/open_api/v1.3 --http-port 9465

Serves /metrics, /healthz, /readyz and /jobs on --http-port. SIGTERM drains, commits and exits 0.
"""
EPILOG_EMULATOR = """examples:
  tikstream emulator                                         # http://127.0.0.1:18080/open_api/v1.3
  tikstream emulator --port 0 --tokens examples/auth.json    # only the tokens of that file work
  tikstream emulator --throttle-rate 0.1 --error-rate 0.02 --latency-ms 50
  curl -s http://127.0.0.1:18080/_emulator/state
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tikstream", formatter_class=RAW, epilog=EPILOG_MAIN,
        description="Keeps TikTok Custom Audiences and Events API 2.0 in step with audience triggers on Kafka.",
    )
    parser.add_argument("--log-level", default=None,
                        help="DEBUG, INFO, WARNING or ERROR (default INFO; WARNING for demo)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the service", formatter_class=RAW, epilog=EPILOG_RUN,
                         description="Consume triggers and keep TikTok in step.")
    settings_options(run)
    add_jobs_parser(sub)
    sub.add_parser("emulator", help="run the local TikTok API emulator (-h for its options)", add_help=False)
    add_auth_parser(sub)
    add_dlq_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        return _emulator(argv[1:])
    args = build_parser().parse_args(argv)
    from tikstream import logs

    logs.setup(args.log_level or ("WARNING" if args.command == "demo" else "INFO"))
    try:
        return _dispatch(args)
    except JobConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TikstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _emulator(argv: list[str]) -> int:
    """``tikstream emulator``; without the ``emulator`` extra, one line saying how to install it, and exit 2."""
    from tikstream.emulator import extra

    try:
        from tikstream.emulator.cli import build_parser as emulator_parser
        from tikstream.emulator.cli import main as emulator_main
    except ImportError as error:
        message = extra.missing(error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2
    if {"-h", "--help"} & set(argv):
        parser = emulator_parser()
        parser.formatter_class, parser.epilog = RAW, EPILOG_EMULATOR
        parser.print_help()
        return 0
    return emulator_main(argv)


def _dispatch(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.command == "run":
        return cmd_run(settings)
    if args.command == "jobs":
        if args.jobs_command in ("delete", "list"):
            require_kafka(settings)
        return JOB_COMMANDS[args.jobs_command](args, settings)
    if args.command == "auth":
        return cmd_auth_login(args, settings) if args.auth_command == "login" else cmd_auth_check(args, settings)
    if args.command == "dlq":
        require_kafka(settings)
        return cmd_dlq_replay(args, settings)
    return cmd_demo(args, settings)
