"""``tikstream demo``: the emulator and ``tikstream run`` in the background (and Prometheus, with the project's
scrape config and alert rules, when ``prometheus`` is on PATH), the example jobs, sample triggers, progress, and a
summary confirmed against the emulator. ``tikstream demo stop`` ends the services.

Every run gets its own namespace (``demo-<UTC time>``): topics ``<ns>.triggers``, ``<ns>.jobs``, ``<ns>.dlq``
and consumer group ``<ns>`` (so internal topics are ``<ns>.<purpose>``), because the emulator starts empty
each time and an audience id kept from an earlier run would point at nothing. ``<dir>/env`` exports the
``TIKSTREAM_*`` settings of the run so that ``tikstream jobs status`` or ``tikstream dlq replay`` in another
shell talk to it. A previous demo's services are stopped first.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from tikstream.demo import jobs as demo_jobs
from tikstream.demo import prometheus
from tikstream.demo.generator import Plan, make_plan
from tikstream.demo.observe import Emulator, Tikstream
from tikstream.demo.progress import Reporter, produce_paced, settle
from tikstream.demo.services import Service, http_ok, pick_port, wait_until
from tikstream.demo.summary import Row, build_rows, render
from tikstream.errors import ConfigError
from tikstream.kafka.dlq_replay import read_dead_letters
from tikstream.settings import Settings

__all__ = ["DemoOptions", "run_demo", "stop_demo"]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    directory: Path = Path(".demo")
    examples: Path = Path("examples")
    triggers: int = 1500
    duration: float = 20.0
    seed: int = 7
    emulator_port: int = 18080
    http_port: int = 9464
    prometheus_port: int = 9090
    prometheus_config: Path = Path("deploy/prometheus/prometheus.yml")
    namespace: str | None = None
    flush_interval: int = 10
    audience_ready_seconds: float = 3.0
    settle_timeout: float = 120.0


def _services(directory: Path) -> tuple[Service, Service, Service]:
    return (Service("emulator", "tikstream.emulator", directory),
            Service("tikstream", "tikstream.cli", directory),
            Service("prometheus", f"--config.file={_prometheus_file(directory)}", directory))


def _prometheus_file(directory: Path) -> Path:
    return (directory / "prometheus.yml").resolve()


def stop_demo(directory: Path, out: TextIO) -> int:
    stopped = [s.name for s in _services(directory) if s.stop()]
    print(f"stopped: {', '.join(stopped)}" if stopped else "no demo service was running", file=out)
    return 0


@dataclass(frozen=True, slots=True)
class _Outcome:
    emulator: Emulator
    tikstream: Tikstream
    prometheus: str | None
    plan: Plan
    rows: list[Row]
    settled: bool
    why: str


def run_demo(settings: Settings, options: DemoOptions, env: Mapping[str, str], out: TextIO) -> int:
    """Run the demo; returns 0 when it settled and every check is ok, else 1. Raises ``ConfigError`` for
    what the operator must fix; the services it started are stopped again then (their logs stay)."""
    started = time.monotonic()
    services = _services(options.directory)
    if any(s.running() for s in services):
        print("stopping the previous demo's services ...", file=out)
        stop_demo(options.directory, out)
    namespace = options.namespace or "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run = _run_settings(settings, options, namespace)
    _prepare_directory(options)
    try:
        outcome = _drive(services, options, run, env, out)
    except BaseException:
        for service in services:
            service.stop()
        print(f"\nthe demo stopped its services; their logs are in {options.directory}/", file=out)
        raise
    _print_summary(out, outcome, namespace, time.monotonic() - started)
    _print_next(out, options, outcome, *services)
    _write_json(options.directory / "summary.json", {
        "namespace": namespace, "settled": outcome.settled, "produced": len(outcome.plan.records),
        "poison": outcome.plan.poison, "emulator": outcome.emulator.url, "tikstream": outcome.tikstream.url,
        "prometheus": outcome.prometheus,
        "rows": [r.as_dict() for r in outcome.rows],
    })  # fmt: skip
    return 0 if outcome.settled and all(r.check == "ok" for r in outcome.rows) else 1


def _drive(services: tuple[Service, Service, Service], options: DemoOptions, run: Settings, env: Mapping[str, str],
           out: TextIO) -> _Outcome:
    """Start the services, apply the jobs, produce, wait, and read the numbers back."""
    emulator = _start_emulator(services[0], options, run, env, out)
    jobs = demo_jobs.apply(run, options.examples, options.flush_interval, out)
    tikstream = _start_tikstream(services[1], options, run, env, out)
    prometheus_url = _start_prometheus(services[2], options, tikstream, env, out)
    _write_env(options.directory / "env", run)
    plan = make_plan(options.triggers, options.seed)
    reporter = Reporter(out, tikstream, emulator)
    produced_at = produce_paced(run, plan, options.duration, reporter)
    settled, why = settle(reporter, len(plan.records), jobs, produced_at,
                          options.flush_interval + options.audience_ready_seconds, options.settle_timeout)
    letters = read_dead_letters(demo_jobs.kafka_config(run), run.dlq_topic)
    dlq = Counter(letter.job for letter in letters)
    rows = build_rows(jobs, plan, reporter.last, dlq, emulator.unique_events)
    return _Outcome(emulator, tikstream, prometheus_url, plan, rows, settled, why)


def _run_settings(settings: Settings, options: DemoOptions, namespace: str) -> Settings:
    directory = options.directory.resolve()
    return settings.model_copy(update={
        "trigger_topics": (f"{namespace}.triggers",), "config_topic": f"{namespace}.jobs",
        "dlq_topic": f"{namespace}.dlq", "group_id": namespace, "auth_file": directory / "auth.json",
        "state_dir": directory / "state", "http_port": pick_port(options.http_port),
        "tiktok_base_url": f"http://127.0.0.1:{pick_port(options.emulator_port)}/open_api/v1.3",
    })  # fmt: skip


def _prepare_directory(options: DemoOptions) -> None:
    source = options.examples / "auth.json"
    if not source.is_file():
        raise ConfigError(f"{source} not found: run the demo from the repository root (or pass --examples DIR)")
    options.directory.mkdir(parents=True, exist_ok=True)
    for name in ("emulator.log", "tikstream.log", "prometheus.log"):
        (options.directory / name).unlink(missing_ok=True)
    shutil.rmtree(options.directory / "state", ignore_errors=True)
    shutil.rmtree(options.directory / "prometheus-data", ignore_errors=True)
    auth = options.directory / "auth.json"
    auth.unlink(missing_ok=True)
    fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first byte
    with os.fdopen(fd, "wb") as fh:
        fh.write(source.read_bytes())


def _port(url: str) -> int:
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _start_emulator(service: Service, options: DemoOptions, run: Settings, env: Mapping[str, str],
                    out: TextIO) -> Emulator:
    emulator = Emulator(_port(run.tiktok_base_url))
    proc = service.start(["tikstream.emulator", "--port", str(emulator.port), "--tokens", str(run.auth_file),
                   "--audience-ready-seconds", str(options.audience_ready_seconds), "--min-audience-size", "0",
                   "--seed", str(options.seed)], env)
    if not wait_until(lambda: http_ok(f"{emulator.url}/_emulator/health") or proc.poll() is not None, 30.0) \
            or proc.poll() is not None:
        raise ConfigError(f"the emulator did not start; see {service.log_file}:\n{_tail(service.log_file)}")
    taken = f"; port {options.emulator_port} was taken" if options.emulator_port not in (0, emulator.port) else ""
    print(f"emulator      {emulator.base_url} (state: {emulator.state_url}{taken})", file=out)
    return emulator


def _start_tikstream(service: Service, options: DemoOptions, run: Settings, env: Mapping[str, str],
                     out: TextIO) -> Tikstream:
    tikstream = Tikstream(run.http_port)
    proc = service.start(["tikstream.cli", "run"], {**env, **_env(run)})
    taken = f"; port {options.http_port} was taken" if options.http_port not in (0, tikstream.port) else ""
    print(f"tikstream run {tikstream.url}/metrics, /jobs (log {service.log_file}{taken}); waiting until ready ...",
          file=out, flush=True)
    if not wait_until(lambda: http_ok(f"{tikstream.url}/readyz") or proc.poll() is not None, 90.0) \
            or proc.poll() is not None:
        raise ConfigError(f"tikstream did not become ready; see {service.log_file}:\n{_tail(service.log_file)}")
    return tikstream


def _start_prometheus(service: Service, options: DemoOptions, tikstream: Tikstream, env: Mapping[str, str],
                      out: TextIO) -> str | None:
    """Prometheus on deploy/prometheus's config and rules, scraping this tikstream; skipped (with how to get it)
    when the binary is not on PATH. A Prometheus that does not start does not stop the demo."""
    program = prometheus.binary()
    if program is None or not options.prometheus_config.is_file():
        why = "no `prometheus` on PATH" if program is None else f"{options.prometheus_config} not found"
        print(f"prometheus    not started: {why} ({prometheus.INSTALL_HINT})", file=out)
        return None
    config = prometheus.write_scrape_config(options.prometheus_config, f"127.0.0.1:{tikstream.port}",
                                            _prometheus_file(options.directory), scrape_interval="5s")
    port = pick_port(options.prometheus_port)
    url = f"http://127.0.0.1:{port}"
    proc = service.start([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                          f"--storage.tsdb.path={(options.directory / 'prometheus-data').resolve()}"],
                         env, program=program)
    if not wait_until(lambda: http_ok(f"{url}/-/ready") or proc.poll() is not None, 30.0) or proc.poll() is not None:
        print(f"prometheus    did not start; see {service.log_file}:\n{_tail(service.log_file)}", file=out)
        service.stop()
        return None
    taken = f"; port {options.prometheus_port} was taken" if options.prometheus_port not in (0, port) else ""
    print(f"prometheus    {url} (alerts: {url}/alerts; rules {options.prometheus_config.parent / 'alerts.yml'}"
          f"{taken})", file=out)
    return url


def _env(run: Settings) -> dict[str, str]:
    values: dict[str, Any] = {
        "BOOTSTRAP_SERVERS": run.bootstrap_servers, "TRIGGER_TOPICS": ",".join(run.trigger_topics),
        "CONFIG_TOPIC": run.config_topic, "DLQ_TOPIC": run.dlq_topic, "GROUP_ID": run.group_id,
        "TIKTOK_BASE_URL": run.tiktok_base_url, "AUTH_FILE": run.auth_file, "HTTP_PORT": run.http_port,
        "STATE_DIR": run.state_dir,
    }  # fmt: skip
    return {f"TIKSTREAM_{k}": str(v) for k, v in values.items()}


def _write_env(path: Path, run: Settings) -> None:
    lines = [f"export {k}={v}" for k, v in _env(run).items()]
    path.write_text("# the settings of the running demo: `source .demo/env`, then any tikstream command\n"
                    + "\n".join(lines) + "\n")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _print_summary(out: TextIO, outcome: _Outcome, namespace: str, elapsed: float) -> None:
    plan = outcome.plan
    print(f"\nSummary: {len(plan.records)} records produced ({len(plan.records) - plan.poison} triggers, "
          f"{plan.poison} poison) in namespace {namespace}; {elapsed:.0f}s so far", file=out)
    if not outcome.settled:
        print(f"(not settled: {outcome.why}; the numbers below may still move)", file=out)
    print(render(outcome.rows), file=out)
    print("ROUTED: tikstream's records_routed_total; ACCEPTED, MEMBERS: the emulator's /_emulator/state; "
          "DLQ: letters on the DLQ topic by job header.", file=out)


def _print_next(out: TextIO, options: DemoOptions, outcome: _Outcome, emulator_service: Service,
                tikstream_service: Service, prometheus_service: Service) -> None:
    emulator, tikstream = outcome.emulator, outcome.tikstream
    commands = [
        (f"source {options.directory / 'env'}", "this run's TIKSTREAM_* settings, for the commands below"),
        ("tikstream jobs status", "state, audience id, pending files, sent, failed"),
        ("tikstream jobs list", "the jobs on this run's config topic"),
        ("tikstream auth check tiktok-main", "the advertisers the demo token can manage"),
        ("tikstream dlq replay --dry-run", "what a replay would re-inject (the poison records)"),
        (f"curl -s {tikstream.url}/metrics | grep ^tikstream_", "the metrics (docs/metrics.md)"),
    ]  # fmt: skip
    width = max(len(c) for c, _ in commands)
    stop = "`make demo-down`, or `tikstream demo stop`"
    if options.directory != DemoOptions().directory:
        stop = f"`tikstream demo stop --dir {options.directory}`"
    print(f"""
Still running (stop everything with {stop}):
  tikstream  {tikstream.url}/metrics  {tikstream.url}/jobs  (log {tikstream_service.log_file})
  emulator   {emulator.state_url}  (log {emulator_service.log_file})""", file=out)
    if outcome.prometheus is not None:
        url = outcome.prometheus
        print(f"  prometheus {url}/alerts  {url}/targets  (log {prometheus_service.log_file})", file=out)
    print("Look next:", file=out)
    for command, why in commands:
        print(f"  {command.ljust(width)}  # {why}", file=out)
