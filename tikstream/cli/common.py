"""What every command shares: settings from options and the environment, the Kafka reachability check,
error lines and tables."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Iterable, Sequence

from tikstream.errors import ConfigError
from tikstream.settings import Settings

RAW = argparse.RawDescriptionHelpFormatter


def settings_options(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """One ``--option`` per setting (or per setting in ``names``); a given option overrides ``TIKSTREAM_<NAME>``."""
    group = parser.add_argument_group("settings (default: environment TIKSTREAM_<NAME>, then docs/architecture.md §7)")
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


def settings_from(args: argparse.Namespace) -> Settings:
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


def bootstrap_hosts(servers: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in filter(None, (s.strip() for s in servers.split(","))):
        entry = entry.split("://", 1)[-1]
        host, sep, port = entry.rpartition(":")
        if not sep or not port.isdigit():
            host, port = entry, "9092"
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def require_kafka(settings: Settings, timeout: float = 3.0) -> None:
    """Fail fast, in one line, when no bootstrap server accepts a connection."""
    for host, port in bootstrap_hosts(settings.bootstrap_servers):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError:
            continue
    raise ConfigError(f"cannot reach Kafka at {settings.bootstrap_servers} (is the broker running? "
                      "`make kafka-up` starts a local one; TIKSTREAM_BOOTSTRAP_SERVERS names another)")


def print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def unknown_job(job_id: str, known: Iterable[str]) -> int:
    names = sorted(known)
    hint = f" (known: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''})" if names else " (no jobs)"
    print(f"error: unknown job {job_id!r}{hint}", file=sys.stderr)
    return 1
