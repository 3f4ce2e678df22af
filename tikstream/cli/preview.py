"""``tikstream jobs preview``: what a job would send for some triggers, without sending or committing anything."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from tikstream.cli.common import RAW, require_kafka, settings_options
from tikstream.errors import ConfigError, JobConfigError
from tikstream.settings import Settings

EPILOG_PREVIEW = """examples:
  tikstream jobs preview -f examples/web-events.yaml --triggers examples/triggers.jsonl
  tikstream jobs preview -f examples/crm-events.yaml --triggers examples/triggers.jsonl --json
  tikstream jobs preview -f examples/audience-export.yaml --topic tikstream.triggers --count 20

Each trigger goes through the job's own code (decode, route, map, normalise, hash, batch); nothing is sent to
TikTok and nothing is committed. --json prints {"requests": [...], "triggers": [...]}.
"""


def add_preview_parser(jsub: Any) -> None:
    text = "show the requests a job would make for some triggers, and what it leaves out and why"
    p = jsub.add_parser("preview", help=text, description=text, formatter_class=RAW, epilog=EPILOG_PREVIEW)
    p.add_argument("-f", "--file", required=True, type=Path, dest="file", help="a JSON or YAML job file")
    p.add_argument("--job", help="the job to preview when the file holds several")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--triggers", type=Path, metavar="FILE.jsonl", help="trigger records, one JSON object a line")
    src.add_argument("--topic", help="read the last --count records of this trigger topic instead")
    p.add_argument("--count", type=int, default=10, metavar="N", help="records to take from --topic (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object: requests and triggers")
    settings_options(p, ("bootstrap_servers",))


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.preview import preview_job

    try:  # the job or the trigger file is wrong: exit 1, like an invalid job
        job = _one_job(args.file, args.job)
        files = list(_file_inputs(args.triggers)) if args.triggers else None
    except ConfigError as exc:
        if isinstance(exc, JobConfigError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    inputs = files if files is not None else _topic_inputs(settings, args.topic, args.count)
    report = preview_job(job, inputs)
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        from tikstream.cli.preview_text import render

        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(render(report, color=color))
    return 0


def _one_job(path: Path, wanted: str | None) -> Any:
    from tikstream.jobs.loading import load_job_file

    jobs = load_job_file(path)
    if wanted is None and len(jobs) == 1:
        return jobs[0]
    ids = [job.id for job in jobs]
    if wanted is None:
        raise ConfigError(f"{path} holds {len(jobs)} jobs ({', '.join(ids)}): choose one with --job")
    for job in jobs:
        if job.id == wanted:
            return job
    raise ConfigError(f"{path} holds no job {wanted!r} ({', '.join(ids)})")


def _file_inputs(path: Path) -> Iterator[Any]:
    from tikstream.preview import Input

    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield Input(number, line.strip())


def _topic_inputs(settings: Settings, topic: str, count: int) -> list[Any]:
    """The last ``count`` records of ``topic`` (by timestamp, then partition and offset), oldest first."""
    from tikstream.kafka.reader import EndReader
    from tikstream.preview import Input

    if count < 1:
        raise ConfigError(f"--count {count}: must be at least 1")
    require_kafka(settings)
    records: list[Any] = []
    with EndReader(settings.kafka_config(), f"{settings.group_id}.preview", error=ConfigError) as reader:
        partitions = reader.partitions(topic)
        if not partitions:
            raise ConfigError(f"topic {topic!r} does not exist or has no partition")
        for partition in partitions:
            low, high = reader.watermarks(topic, partition)
            records.extend(reader.read(topic, {partition: max(low, high - count)}, ends={partition: high}))
    records.sort(key=lambda r: (r.timestamp_ms or 0, r.partition, r.offset))
    return [Input(f"{r.partition}:{r.offset}", r.value, r.timestamp_ms) for r in records[-count:]]
