"""The ``tikstream`` command line (DESIGN §8). Reads ``Settings`` once and passes plain values down."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tikstream.errors import ConfigError, JobConfigError, TikstreamError
from tikstream.settings import Settings

EPILOG_JOBS = """examples:
  tikstream jobs validate -f examples/web-events.yaml
  tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml
  tikstream jobs list
  tikstream jobs status web-purchase
  tikstream jobs delete web-purchase
"""


def _settings_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per setting; a given option overrides ``TIKSTREAM_<NAME>``."""
    group = parser.add_argument_group("settings (default: environment TIKSTREAM_<NAME>, then DESIGN §7)")
    for name, field in Settings.model_fields.items():
        if name == "kafka":
            continue
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"setting_{name}", default=None,
                           metavar=name.upper(), help=f"default: {field.default!r}")


def _settings(args: argparse.Namespace) -> Settings:
    given = {k.removeprefix("setting_"): v for k, v in vars(args).items() if k.startswith("setting_") and v}
    if "trigger_topics" in given:
        given["trigger_topics"] = tuple(t for t in given["trigger_topics"].split(",") if t)
    return Settings(**given)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tikstream", description="Keeps TikTok audiences and Events API 2.0 in step with Kafka triggers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tikstream run\n  tikstream jobs apply -f examples/web-events.yaml\n"
               "  tikstream emulator --port 18080\n",
    )
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service", description="Consume triggers and keep TikTok in step.")
    _settings_options(run)

    jobs = sub.add_parser("jobs", help="manage job configs on the config topic", epilog=EPILOG_JOBS,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    for name, text in (("apply", "validate every file, then publish them all (or none)"),
                       ("validate", "validate job files; exit 1 with every error, field by field")):
        p = jsub.add_parser(name, help=text, description=text)
        p.add_argument("-f", "--file", action="append", required=True, type=Path, dest="files")
        _settings_options(p)
    p = jsub.add_parser("delete", help="delete a job (tombstone on the config topic)")
    p.add_argument("job_id")
    _settings_options(p)
    p = jsub.add_parser("list", help="list the jobs on the config topic")
    _settings_options(p)
    p = jsub.add_parser("status", help="state and progress of jobs, from a running instance's /jobs")
    p.add_argument("job_id", nargs="?")
    p.add_argument("--url", help="a running instance (default http://127.0.0.1:HTTP_PORT)")
    _settings_options(p)

    emu = sub.add_parser("emulator", help="run the local TikTok API emulator", add_help=False)
    emu.add_argument("emulator_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from tikstream.emulator.cli import main as emulator_main

        return emulator_main(argv[1:])
    args = build_parser().parse_args(argv)
    from tikstream import logs

    logs.setup(args.log_level)
    try:
        if args.command == "run":
            return cmd_run(_settings(args))
        return JOB_COMMANDS[args.jobs_command](args, _settings(args))
    except JobConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TikstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_run(settings: Settings) -> int:
    from tikstream.app import App
    from tikstream.auth import AuthStore

    from tikstream.metrics import Metrics
    from tikstream.tiktok.client import TikTokClient

    metrics = Metrics()
    with TikTokClient(settings.tiktok_base_url, metrics=metrics) as tiktok:
        app = App(settings, metrics=metrics, auth=AuthStore(settings.auth_file), tiktok=tiktok)
        app.install_signal_handlers()
        return app.run()


def _load_jobs(files: list[Path]) -> tuple[list[Any], list[str]]:
    from tikstream.jobs.loading import load_job_file

    jobs, errors = [], []
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


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import publish, read_config_topic

    kafka = settings.kafka_config()
    if args.job_id not in read_config_topic(kafka, settings.config_topic):
        print(f"error: unknown job {args.job_id!r}", file=sys.stderr)
        return 1
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
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (operator-given URL)
            jobs = orjson.loads(resp.read())["jobs"]
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: no running tikstream answers at {url} ({exc})", file=sys.stderr)
        return 2
    if args.job_id:
        jobs = [j for j in jobs if j["id"] == args.job_id]
        if not jobs:
            print(f"error: unknown job {args.job_id!r}", file=sys.stderr)
            return 1
    rows = [("ID", "TYPE", "STATE", "VERSION", "AUDIENCE", "PENDING FILES", "SENT", "FAILED", "LAST ERROR")]
    for j in jobs:
        rows.append((j["id"], j.get("type", "?"), j.get("state", "?"), j.get("version", ""),
                     str(j.get("audience_id") or "-"), str(j.get("pending_files", "-")), str(j.get("sent", "-")),
                     str(j.get("failed", "-")), (j.get("last_error") or "")[:60]))
    _print_table(rows)
    return 0


def _loads(value: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(value or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


JOB_COMMANDS = {"apply": cmd_apply, "validate": cmd_validate, "delete": cmd_delete, "list": cmd_list,
                "status": cmd_status}

if __name__ == "__main__":
    sys.exit(main())
