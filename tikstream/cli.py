"""The ``tikstream`` command line (DESIGN §8). Reads ``Settings`` once and passes plain values down.

Exit codes: 0 success; 1 the input is wrong (an invalid job, an unknown job, a rejected token, a demo whose
numbers do not add up); 2 the environment is wrong (Kafka unreachable, authorization file missing or
invalid, a service that does not answer); 130 interrupted. Every error is one line on stderr, ``error: ...``.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tikstream.errors import ConfigError, JobConfigError, TikstreamError
from tikstream.settings import Settings

RAW = argparse.RawDescriptionHelpFormatter

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
be overridden per command with --<name> (DESIGN.md §7). Job reference: docs/jobs.md.
"""
EPILOG_RUN = """examples:
  tikstream run
  TIKSTREAM_BOOTSTRAP_SERVERS=kafka:9092 TIKSTREAM_AUTH_FILE=/run/secrets/auth.json tikstream run
  tikstream run --tiktok-base-url http://127.0.0.1:18080/open_api/v1.3 --http-port 9465

Serves /metrics, /healthz, /readyz and /jobs on --http-port. SIGTERM drains, commits and exits 0.
"""
EPILOG_JOBS = """examples:
  tikstream jobs validate -f examples/web-events.yaml
  tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml
  tikstream jobs list
  tikstream jobs status web-purchase
  tikstream jobs delete web-purchase

Job reference: docs/jobs.md (generated from schemas/job.schema.json).
"""
EPILOG_AUTH = """examples:
  tikstream auth login --name tiktok-main --app-id 7310000000000000000      # prompts for the app secret
  TIKSTREAM_APP_SECRET=... tikstream auth login --name tiktok-main --app-id 7310000000000000000 --no-browser
  tikstream auth check tiktok-main

Against the emulator (its developer app is emulator-app / emulator-secret):
  tikstream auth login --name local --app-id emulator-app --secret emulator-secret --no-browser \\
      --tiktok-base-url http://127.0.0.1:18080/open_api/v1.3 --auth-file ./auth.json
"""
EPILOG_LOGIN = """The flow (TIKTOK_API.md §4.1): a callback server listens on 127.0.0.1:PORT; open the printed URL,
consent, and TikTok redirects to http://127.0.0.1:PORT/callback. The state is checked, the auth_code exchanged
for a long-lived token, and the token saved in the authorization file (mode 0600, other entries kept) as a
tiktok_signin entry. Register http://127.0.0.1:PORT/callback as a redirect URL of your TikTok app.
The secret is read from --secret, else TIKSTREAM_APP_SECRET, else a prompt (the safest: not in shell history).

examples:
  tikstream auth login --name tiktok-main --app-id 7310000000000000000
  tikstream auth login --name tiktok-main --app-id 7310000000000000000 --no-browser --redirect-port 8585
"""
EPILOG_CHECK = """examples:
  tikstream auth check tiktok-main
  tikstream auth check tiktok-main --auth-file /run/secrets/auth.json

Exit 0 when TikTok accepts the token (the advertisers it can manage are listed), 1 when it is rejected.
The token is never printed.
"""
EPILOG_DLQ = """examples:
  tikstream dlq replay --dry-run                      # what would be re-injected, per source topic and job
  tikstream dlq replay --job web-purchase             # only the letters of one job, after fixing it
  tikstream dlq replay --error-class job_unavailable

Letters go back to their source topic with their original key and value. Progress is kept in the consumer
group {group_id}.dlq-replay, so a letter is replayed once; letters not selected stay for a later replay.
"""
EPILOG_DEMO = """examples:
  make demo                       # the same, after setting up .venv and a local Kafka broker
  tikstream demo                  # broker from TIKSTREAM_BOOTSTRAP_SERVERS (default 127.0.0.1:9092)
  tikstream demo --triggers 300 --duration 5
  tikstream demo stop             # or: make demo-down (also stops Kafka if the demo started it)

Starts the emulator and `tikstream run` in the background (pid files and logs in .demo/), applies the jobs in
examples/, produces sample triggers with a few poison records, and prints a summary checked against the
emulator. The services keep running until `tikstream demo stop`.
"""
EPILOG_EMULATOR = """examples:
  tikstream emulator                                         # http://127.0.0.1:18080/open_api/v1.3
  tikstream emulator --port 0 --tokens examples/auth.json    # only the tokens of that file work
  tikstream emulator --throttle-rate 0.1 --error-rate 0.02 --latency-ms 50
  curl -s http://127.0.0.1:18080/_emulator/state
"""


# -- settings -----------------------------------------------------------------------------------------------

def _settings_options(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """One ``--option`` per setting (or per setting in ``names``); a given option overrides ``TIKSTREAM_<NAME>``."""
    group = parser.add_argument_group("settings (default: environment TIKSTREAM_<NAME>, then DESIGN §7)")
    wanted = set(Settings.model_fields) if names is None else set(names)
    for name, field in Settings.model_fields.items():
        if name == "kafka" or name not in wanted:
            continue
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"setting_{name}", default=None,
                           metavar=name.upper(), help=f"default: {_shown(field.default)}")


def _shown(default: object) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


def _settings(args: argparse.Namespace) -> Settings:
    given = {k.removeprefix("setting_"): v for k, v in vars(args).items() if k.startswith("setting_") and v}
    if "trigger_topics" in given:
        given["trigger_topics"] = tuple(t for t in given["trigger_topics"].split(",") if t)
    try:
        return Settings(**given)
    except ValueError as exc:  # pydantic's ValidationError
        raise ConfigError(f"invalid settings: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


def _bootstrap_hosts(servers: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in filter(None, (s.strip() for s in servers.split(","))):
        entry = entry.split("://", 1)[-1]
        host, sep, port = entry.rpartition(":")
        if not sep or not port.isdigit():
            host, port = entry, "9092"
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def _require_kafka(settings: Settings, timeout: float = 3.0) -> None:
    """Fail fast, in one line, when no bootstrap server accepts a connection."""
    for host, port in _bootstrap_hosts(settings.bootstrap_servers):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError:
            continue
    raise ConfigError(f"cannot reach Kafka at {settings.bootstrap_servers} (is the broker running? "
                      "`make kafka-up` starts a local one; TIKSTREAM_BOOTSTRAP_SERVERS names another)")


# -- parser -------------------------------------------------------------------------------------------------

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
    _settings_options(run)
    _jobs_parser(sub)
    sub.add_parser("emulator", help="run the local TikTok API emulator (-h for its options)", add_help=False)
    _auth_parser(sub)
    _dlq_parser(sub)
    _demo_parser(sub)
    return parser


def _jobs_parser(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="manage job configs on the config topic", epilog=EPILOG_JOBS,
                          formatter_class=RAW, description="Validate, publish, list and delete jobs.")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    for name, text, example in (
        ("apply", "validate every file and its authorization, then publish them all (or none)",
         "tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml"),
        ("validate", "validate job files; exit 1 with every error, field by field",
         "tikstream jobs validate -f examples/web-events.yaml"),
    ):  # fmt: skip
        p = jsub.add_parser(name, help=text, description=text, formatter_class=RAW,
                            epilog=f"example:\n  {example}\n\nJob reference: docs/jobs.md")
        p.add_argument("-f", "--file", action="append", required=True, type=Path, dest="files",
                       help="a JSON or YAML job file (one job, a list, or several YAML documents); repeatable")
        _settings_options(p)
    for name, text, example in (
        ("delete", "delete a job (a tombstone on the config topic)", "tikstream jobs delete web-purchase"),
        ("list", "list the jobs on the config topic", "tikstream jobs list"),
        ("status", "state and progress of jobs, from a running instance's /jobs", "tikstream jobs status"),
    ):  # fmt: skip
        p = jsub.add_parser(name, help=text, description=text, formatter_class=RAW, epilog=f"example:\n  {example}")
        if name == "delete":
            p.add_argument("job_id", help="the job id")
        if name == "status":
            p.add_argument("job_id", nargs="?", help="one job (default: all)")
            p.add_argument("--url", help="a running instance (default http://127.0.0.1:HTTP_PORT)")
        _settings_options(p)


def _auth_parser(sub: Any) -> None:
    auth = sub.add_parser("auth", help="sign in to TikTok (OAuth) and check tokens", formatter_class=RAW,
                          epilog=EPILOG_AUTH, description="Manage tiktok_signin authorizations.")
    asub = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    login = asub.add_parser("login", help="run the OAuth flow and save the token", formatter_class=RAW,
                            epilog=EPILOG_LOGIN, description="TikTok Marketing API sign-in (auth_code flow).")
    login.add_argument("--name", required=True, help="the authorization's name in the file (jobs use it)")
    login.add_argument("--app-id", required=True, help="your TikTok developer app's id")
    login.add_argument("--secret", help="the app's secret (default: TIKSTREAM_APP_SECRET, else a prompt)")
    login.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    login.add_argument("--redirect-port", type=int, default=8585,
                       help="port of the callback on 127.0.0.1 (default 8585; 0 picks a free one)")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for consent (default 300)")
    _settings_options(login, ("auth_file", "tiktok_base_url"))
    check = asub.add_parser("check", help="list the advertisers a tiktok_signin token can manage",
                            formatter_class=RAW, epilog=EPILOG_CHECK, description="Check a token with TikTok.")
    check.add_argument("name", help="the authorization's name in the file")
    _settings_options(check, ("auth_file", "tiktok_base_url"))


def _dlq_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: replay them after a fix", formatter_class=RAW,
                         epilog=EPILOG_DLQ, description="Work with the dead-letter topic.")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    replay = dsub.add_parser("replay", help="re-inject dead letters into their source topic", formatter_class=RAW,
                             epilog=EPILOG_DLQ, description="Re-inject dead letters into their source topic.")
    replay.add_argument("--job", help="only letters of this job (header 'job')")
    replay.add_argument("--error-class", action="append", default=[], metavar="CLASS",
                        help="only letters of this error class (e.g. job_unavailable); repeatable")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    replay.add_argument("--timeout", type=float, default=60.0, help="seconds without progress before giving up")
    _settings_options(replay, ("bootstrap_servers", "dlq_topic", "group_id", "config_topic"))


def _demo_parser(sub: Any) -> None:
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
    demo.add_argument("--dir", type=Path, default=Path(".demo"), help="pid files, logs, auth file (.demo)")
    demo.add_argument("--examples", type=Path, default=Path("examples"), help="job files to apply (examples)")
    demo.add_argument("--namespace", help="topic and group prefix (default demo-<UTC time>)")
    demo.add_argument("--flush-interval", type=int, default=10, help="the audience job's flush (default 10 s)")
    demo.add_argument("--settle-timeout", type=float, default=120.0, help="seconds to wait for the numbers")
    _settings_options(demo, ("bootstrap_servers",))


# -- main ---------------------------------------------------------------------------------------------------

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
    from tikstream.emulator.cli import build_parser as emulator_parser
    from tikstream.emulator.cli import main as emulator_main

    if {"-h", "--help"} & set(argv):
        parser = emulator_parser()
        parser.formatter_class, parser.epilog = RAW, EPILOG_EMULATOR
        parser.print_help()
        return 0
    return emulator_main(argv)


def _dispatch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.command == "run":
        return cmd_run(settings)
    if args.command == "jobs":
        if args.jobs_command in ("delete", "list"):
            _require_kafka(settings)
        return JOB_COMMANDS[args.jobs_command](args, settings)
    if args.command == "auth":
        return cmd_auth_login(args, settings) if args.auth_command == "login" else cmd_auth_check(args, settings)
    if args.command == "dlq":
        _require_kafka(settings)
        return cmd_dlq_replay(args, settings)
    return cmd_demo(args, settings)


GC_THRESHOLDS = (50_000, 20, 10)
"""``gc.set_threshold`` for the service. CPython's default (700, 10, 10) runs a young collection every couple
of hundred events here: each event leaves a few tracked objects (trigger, record dict, batch item) alive
until its batch is sent, and a sink may hold thousands, so they were traversed again and again and promoted
into full collections: about a fifth of the poll thread's time in bench_events. 50,000 lets held events die
young; garbage cycles (rare on the hot path) wait a little longer."""


def tune_gc() -> None:
    """Process-wide GC settings for a long-running service, once start-up is done: collect, then
    ``gc.freeze()`` what start-up built (modules, models, clients: never garbage, no longer traversed by
    full collections), and raise the thresholds (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def cmd_run(settings: Settings) -> int:
    from tikstream.app import App
    from tikstream.auth import AuthStore, load_authorizations
    from tikstream.metrics import Metrics
    from tikstream.tiktok.client import TikTokClient

    load_authorizations(settings.auth_file)  # a missing or invalid file: one line, before anything starts
    _require_kafka(settings)
    auth = AuthStore(settings.auth_file)
    metrics = Metrics()
    with TikTokClient(settings.tiktok_base_url, metrics=metrics) as tiktok:
        app = App(settings, metrics=metrics, auth=auth, tiktok=tiktok)
        app.install_signal_handlers()
        tune_gc()
        return app.run()


# -- jobs ---------------------------------------------------------------------------------------------------

def _load_jobs(files: list[Path]) -> tuple[list[Any], list[str]]:
    from tikstream.jobs.loading import load_job_file

    jobs: list[Any] = []
    errors: list[str] = []
    for path in files:
        try:
            jobs.extend(load_job_file(path))
        except JobConfigError as exc:
            errors.extend(f"{path}: {exc.job_id or '?'}: {e}" for e in exc.errors)
        except ConfigError as exc:
            errors.append(f"{path}: {exc}")
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            errors.append(f"job {job.id!r} is defined twice")
        seen.add(job.id)
    return jobs, errors


def _auth_errors(jobs: list[Any], settings: Settings) -> list[str]:
    from tikstream.auth import check_job_auth, load_authorizations

    try:
        authorizations = load_authorizations(settings.auth_file)
    except ConfigError as exc:
        return [str(exc)]
    return [f"{job.id}: {e}" for job in jobs for e in check_job_auth(job, authorizations)]


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    jobs, errors = _load_jobs(args.files)
    for e in errors:
        print(f"invalid: {e}", file=sys.stderr)
    if not errors:
        print(f"ok: {len(jobs)} job(s) valid: {', '.join(j.id for j in jobs)}")
    return 1 if errors else 0


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.app import own_topics
    from tikstream.jobs.models import job_to_json, parse_job
    from tikstream.kafka.admin import ensure_topics
    from tikstream.kafka.config_topic import publish, read_config_topic

    jobs, errors = _load_jobs(args.files)
    errors += _auth_errors(jobs, settings) if not errors else []
    for e in errors:
        print(f"invalid: {e}", file=sys.stderr)
    if errors:
        print("nothing published", file=sys.stderr)
        return 1
    _require_kafka(settings)
    kafka = settings.kafka_config()
    ensure_topics(kafka, own_topics(settings))
    current = read_config_topic(kafka, settings.config_topic)
    now = datetime.now(UTC)
    records = []
    for job in jobs:
        created = job.created_at or _existing_created_at(current.get(job.id), parse_job) or now
        records.append((job.id, job_to_json(job.model_copy(update={"created_at": created}))))
    publish(kafka, settings.config_topic, records)
    for job in jobs:
        print(f"applied {job.id} ({job.type})")
    return 0


def _existing_created_at(record: Any, parse: Any) -> datetime | None:
    if record is None or record.value is None:
        return None
    try:
        return parse(record.value).created_at  # type: ignore[no-any-return]
    except JobConfigError:
        return None


def _unknown_job(job_id: str, known: Iterable[str]) -> int:
    names = sorted(known)
    hint = f" (known: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''})" if names else " (no jobs)"
    print(f"error: unknown job {job_id!r}{hint}", file=sys.stderr)
    return 1


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import publish, read_config_topic

    kafka = settings.kafka_config()
    current = read_config_topic(kafka, settings.config_topic)
    if args.job_id not in current:
        return _unknown_job(args.job_id, current)
    publish(kafka, settings.config_topic, [(args.job_id, None)])
    print(f"deleted {args.job_id}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import read_config_topic

    current = read_config_topic(settings.kafka_config(), settings.config_topic)
    rows = [("ID", "TYPE", "VERSION", "AUTH")]
    for key, rec in sorted(current.items()):
        doc = _loads(rec.value)
        rows.append((key, str(doc.get("type", "?")), f"{rec.partition}:{rec.offset}", str(doc.get("auth", "?"))))
    _print_table(rows)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    url = (args.url or f"http://127.0.0.1:{settings.http_port}").rstrip("/") + "/jobs"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            jobs = orjson.loads(resp.read())["jobs"]
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: no running tikstream answers at {url} ({reason}); start one with `tikstream run` "
              "or pass --url", file=sys.stderr)
        return 2
    if args.job_id:
        known = [j["id"] for j in jobs]
        jobs = [j for j in jobs if j["id"] == args.job_id]
        if not jobs:
            return _unknown_job(args.job_id, known)
    rows = [("ID", "TYPE", "STATE", "VERSION", "AUDIENCE", "PENDING FILES", "SENT", "FAILED", "BACKFILL",
             "LAST ERROR")]
    for j in jobs:
        rows.append((j["id"], j.get("type", "?"), j.get("state", "?"), j.get("version", ""),
                     str(j.get("audience_id") or "-"), str(j.get("pending_files", "-")), str(j.get("sent", "-")),
                     str(j.get("failed", "-")), _backfill(j.get("backfill")), (j.get("last_error") or "")[:60]))
    _print_table(rows)
    return 0


def _backfill(progress: Any) -> str:
    """``existing_users`` progress: state, users sent of users found."""
    if not isinstance(progress, dict):
        return "-"
    return f"{progress.get('state', '?')} {progress.get('sent', 0)}/{progress.get('users') or '?'}"


def _loads(value: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(value or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


JOB_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "apply": cmd_apply, "validate": cmd_validate, "delete": cmd_delete, "list": cmd_list, "status": cmd_status,
}  # fmt: skip


# -- auth ---------------------------------------------------------------------------------------------------

def _app_secret(given: str | None) -> str:
    secret = given or os.environ.get("TIKSTREAM_APP_SECRET")
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise ConfigError("no app secret: pass --secret, set TIKSTREAM_APP_SECRET, or run in a terminal")
    import getpass

    secret = getpass.getpass("TikTok app secret: ")
    if not secret:
        raise ConfigError("no app secret given")
    return secret


def cmd_auth_login(args: argparse.Namespace, settings: Settings) -> int:
    import webbrowser

    from tikstream.oauth_login import login
    from tikstream.tiktok.client import TikTokClient
    from tikstream.tiktok.errors import PermanentError, ReauthorizeError

    secret = _app_secret(args.secret)

    def announce(url: str, redirect_uri: str) -> None:
        print(f"Open this URL in a browser to authorise tikstream (app {args.app_id}):\n\n  {url}\n")
        print(f"Waiting up to {args.timeout:.0f}s for TikTok to redirect to {redirect_uri} ...", flush=True)

    try:
        with TikTokClient(settings.tiktok_base_url) as client:
            result = login(client, base_url=settings.tiktok_base_url, name=args.name, app_id=args.app_id,
                           secret=secret, auth_file=settings.auth_file, redirect_port=args.redirect_port,
                           timeout=args.timeout, announce=announce,
                           open_browser=None if args.no_browser else webbrowser.open)
    except (ReauthorizeError, PermanentError) as exc:
        print(f"error: TikTok refused the sign-in: {exc}; nothing saved", file=sys.stderr)
        return 1
    advertisers = ", ".join(result.advertiser_ids) or "none listed"
    print(f"Authorised: saved {result.name!r} (tiktok_signin; advertisers: {advertisers}) to {result.path} "
          "(mode 0600).")
    print(f"Check it any time with: tikstream auth check {result.name}")
    return 0


def cmd_auth_check(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.auth import TikTokSignin, load_authorizations
    from tikstream.oauth_login import check
    from tikstream.tiktok.client import TikTokClient
    from tikstream.tiktok.errors import PermanentError, ReauthorizeError

    authorizations = load_authorizations(settings.auth_file)
    auth = authorizations.get(args.name)
    if auth is None:
        known = ", ".join(sorted(authorizations)) or "none"
        print(f"error: no authorization named {args.name!r} in {settings.auth_file} (known: {known})",
              file=sys.stderr)
        return 1
    if not isinstance(auth, TikTokSignin):
        print(f"error: {args.name!r} is an {auth.kind}; `auth check` lists the advertisers of tiktok_signin "
              "tokens only", file=sys.stderr)
        return 1
    try:
        with TikTokClient(settings.tiktok_base_url) as client:
            advertisers = check(client, auth)
    except (ReauthorizeError, PermanentError) as exc:
        print(f"error: TikTok refused {args.name!r}: {exc}; sign in again with "
              f"`tikstream auth login --name {args.name} --app-id {auth.app_id}`", file=sys.stderr)
        return 1
    print(f"{args.name}: tiktok_signin for app {auth.app_id}; token accepted by {settings.tiktok_base_url}; "
          f"{len(advertisers)} advertiser(s):")
    _print_table([("ADVERTISER ID", "NAME"), *((a.advertiser_id, a.advertiser_name) for a in advertisers)])
    return 0


# -- dlq ----------------------------------------------------------------------------------------------------

def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import read_config_topic
    from tikstream.kafka.dlq_replay import replay_dead_letters, replay_group

    kafka = settings.kafka_config()
    known_jobs: dict[str, Any] | None = None
    if args.job is not None:
        try:
            known_jobs = dict(read_config_topic(kafka, settings.config_topic))
        except ConfigError:
            known_jobs = {}
    report = replay_dead_letters(kafka, settings.dlq_topic, settings.group_id, job=args.job,
                                 error_classes=args.error_class, dry_run=args.dry_run, timeout=args.timeout)
    if args.job is not None and known_jobs is not None and args.job not in known_jobs and report.selected == 0:
        return _unknown_job(args.job, known_jobs)
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {report.replayed_total} dead letter(s) from {settings.dlq_topic} "
          f"(scanned {report.scanned}; progress group {replay_group(settings.group_id)})")
    if report.replayed:
        _print_table([("SOURCE TOPIC", "JOB", "LETTERS"),
                      *((topic, job, str(n)) for (topic, job), n in sorted(report.replayed.items()))])
    notes = [(report.left_for_later, "not selected, kept for a later replay"),
             (report.already_replayed, "already replayed earlier"),
             (report.unreplayable, "cannot be replayed (no source topic, or the value was too large to keep)"),
             (report.deferred, "deferred: too many interleaved letters; run again without --job")]
    for count, text in notes:
        if count:
            print(f"  {count} {text}")
    return 0


# -- demo ---------------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.demo.driver import DemoOptions, run_demo, stop_demo

    if args.action == "stop":
        return stop_demo(args.dir, sys.stdout)
    _require_kafka(settings)
    options = DemoOptions(
        directory=args.dir, examples=args.examples, triggers=args.triggers, duration=args.duration, seed=args.seed,
        emulator_port=args.emulator_port, http_port=args.http_port, namespace=args.namespace,
        flush_interval=args.flush_interval, settle_timeout=args.settle_timeout,
    )  # fmt: skip
    return run_demo(settings, options, dict(os.environ), sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
