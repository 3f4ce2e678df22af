"""``tikstream emulator``: parse options, serve until SIGTERM or SIGINT, exit 0.

Once listening it prints exactly one line to stdout, ``emulator listening on http://HOST:PORT/open_api/v1.3``
(flushed): other processes wait for that line. ``--port 0`` picks a free port and the line tells which.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import yaml
from aiohttp import web

from tikstream.emulator.checkpool import TrackChecker, default_workers
from tikstream.emulator.options import (
    DEFAULT_ADVERTISER_IDS,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    AudienceRules,
    EmulatorOptions,
    FaultRates,
)
from tikstream.emulator.server import API_PREFIX, create_app


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a rate is between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tikstream emulator", description="Local TikTok Business API emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    p.add_argument("--tokens", type=Path, help="auth file (JSON or YAML); only its tokens are accepted")
    p.add_argument("--app-id", default=DEFAULT_APP_ID, help="the developer app id for OAuth")
    p.add_argument("--app-secret", default=DEFAULT_APP_SECRET, help="the developer app secret for OAuth")
    p.add_argument(
        "--advertiser-ids",
        default=",".join(DEFAULT_ADVERTISER_IDS),
        help="comma-separated advertiser ids granted by the OAuth flow",
    )
    p.add_argument("--audience-ready-seconds", type=_non_negative, default=3.0)
    p.add_argument("--min-audience-size", type=int, default=1000, help="0 turns the 1,000-member rule off")
    p.add_argument("--file-ttl-seconds", type=_non_negative, default=0.0, help="0: file paths never expire")
    p.add_argument("--max-events-kept", type=int, default=100_000)
    p.add_argument("--throttle-rate", type=_rate, default=0.0, help="fraction answered with code 40100")
    p.add_argument("--error-rate", type=_rate, default=0.0, help="fraction answered HTTP 500 / code 50000")
    p.add_argument("--latency-ms", type=_non_negative, default=0.0)
    p.add_argument("--timeout-rate", type=_rate, default=0.0, help="fraction that hang --timeout-seconds")
    p.add_argument("--timeout-seconds", type=_non_negative, default=30.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--check-workers",
        type=int,
        default=default_workers(),
        help="processes that decode and check /event/track/ bodies; 0 checks them in the serving process "
        "(default: CPUs + 1, at most 4; 0 on a single CPU)",
    )
    return p


def options_from(args: argparse.Namespace) -> EmulatorOptions:
    return EmulatorOptions(
        host=args.host,
        port=args.port,
        tokens_file=args.tokens,
        app_id=args.app_id,
        app_secret=args.app_secret,
        advertiser_ids=tuple(a.strip() for a in args.advertiser_ids.split(",") if a.strip()),
        max_events_kept=args.max_events_kept,
        seed=args.seed,
        faults=FaultRates(
            args.throttle_rate, args.error_rate, args.latency_ms, args.timeout_rate, args.timeout_seconds
        ),
        rules=AudienceRules(args.audience_ready_seconds, max(0, args.min_audience_size), args.file_ttl_seconds),
    )


async def serve(options: EmulatorOptions, checker: TrackChecker | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    app = create_app(options, checker)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, shutdown_timeout=1.0)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"emulator listening on http://{options.host}:{port}{API_PREFIX}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.check_workers < 0:
        print("emulator: --check-workers must not be negative", file=sys.stderr)
        return 2
    try:
        options = options_from(args)
        # Workers are forked here, before the event loop or any thread exists.
        checker = TrackChecker(args.check_workers)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(options, checker))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    finally:
        checker.close()
    return 0
