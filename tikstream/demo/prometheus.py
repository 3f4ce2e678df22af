"""Prometheus beside the demo: the project's own scrape config and alert rules (deploy/prometheus), unchanged but
for the tikstream target and the scrape interval. The real-scrape test (tests/integration/test_prometheus_scrape.py)
runs Prometheus on the same config."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Final

import yaml

from tikstream.errors import ConfigError

__all__ = ["SCRAPE_JOB", "binary", "scrape_config", "write_scrape_config"]

SCRAPE_JOB: Final = "tikstream"
INSTALL_HINT: Final = "apt-get install prometheus, or the compose stack: docker compose --profile local up"


def binary() -> str | None:
    """The ``prometheus`` on PATH, if any."""
    return shutil.which("prometheus")


def scrape_config(source: Path, target: str, scrape_interval: str | None = None) -> dict[str, Any]:
    """``source`` (deploy/prometheus/prometheus.yml) scraping ``target`` (host:port): the tikstream job's targets
    and, when given, the global scrape interval are replaced; the rule files are made absolute (Prometheus reads
    them relative to the config file, which is written elsewhere). Everything else is kept."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    jobs = [j for j in doc.get("scrape_configs", []) if j.get("job_name") == SCRAPE_JOB]
    if len(jobs) != 1 or len(jobs[0].get("static_configs", [])) != 1:
        raise ConfigError(f"{source}: expected one scrape job {SCRAPE_JOB!r} with one static_configs entry")
    jobs[0]["static_configs"][0]["targets"] = [target]
    if scrape_interval is not None:
        doc.setdefault("global", {})["scrape_interval"] = scrape_interval
    doc["rule_files"] = [str((source.parent / name).resolve()) for name in doc.get("rule_files", [])]
    return doc


def write_scrape_config(source: Path, target: str, path: Path, scrape_interval: str | None = None) -> Path:
    path.write_text(f"# generated from {source.resolve()} for {target}\n"
                    + yaml.safe_dump(scrape_config(source, target, scrape_interval), sort_keys=False))
    return path
