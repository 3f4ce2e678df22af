"""``tikstream demo``: the emulator and ``tikstream run`` in the background, the example jobs, sample triggers,
progress, and a summary confirmed against the emulator. ``tikstream demo stop`` ends the services.

Every run gets its own namespace (``demo-<UTC time>``): topics ``<ns>.triggers``, ``<ns>.jobs``, ``<ns>.dlq``
and consumer group ``<ns>`` (so internal topics are ``<ns>.<purpose>``), because the emulator starts empty
each time and an audience id kept from an earlier run would point at nothing. ``<dir>/env`` exports the
``TIKSTREAM_*`` settings of the run so that ``tikstream jobs status`` or ``tikstream dlq replay`` in another
shell talk to it. A previous demo's services are stopped first.
"""

from __future__ import annotations

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
    namespace: str | None = None
    flush_interval: int = 10
    audience_ready_seconds: float = 3.0
    settle_timeout: float = 120.0


def _services(directory: Path) -> tuple[Service, Service]:
    return (Service("emulator", "tikstream.emulator", directory),
            Service("tikstream", "tikstream.cli", directory))


def stop_demo(directory: Path, out: TextIO) -> int:
    stopped = [s.name for s in _services(directory) if s.stop()]
    print(f"stopped: {', '.join(stopped)}" if stopped else "no demo service was running", file=out)
    return 0


def run_demo(settings: Settings, options: DemoOptions, env: Mapping[str, str], out: TextIO) -> int:
    """Run the demo; returns the exit code. Raises ``ConfigError`` for what the operator must fix."""
    started = time.monotonic()
    emulator_service, tikstream_service = _services(options.directory)
    if emulator_service.running() or tikstream_service.running():
        print("stopping the previous demo's services ...", file=out)
        stop_demo(options.directory, out)
    namespace = options.namespace or "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run = _run_settings(settings, options, namespace)
    _prepare_directory(options)
    emulator = _start_emulator(emulator_service, options, run, env, out)
    jobs = demo_jobs.apply(run, options.examples, options.flush_interval, out)
    tikstream = _start_tikstream(tikstream_service, run, env, out)
    _write_env(options.directory / "env", run)
    plan = make_plan(options.triggers, options.seed)
    reporter = Reporter(out, tikstream, emulator)
    produced_at = produce_paced(run, plan, options.duration, reporter)
    settled, why = settle(reporter, len(plan.records), jobs, produced_at,
                          options.flush_interval + options.audience_ready_seconds, options.settle_timeout)
    snap = reporter.last
    letters = read_dead_letters(run.kafka_config(), run.dlq_topic)
    dlq = Counter(letter.job for letter in letters)
    rows = build_rows(jobs, plan, snap, dlq, emulator.unique_events)
    _print_summary(out, rows, plan, namespace, settled, why, time.monotonic() - started)
    _print_next(out, options, run, emulator, tikstream, emulator_service, tikstream_service)
    _write_json(options.directory / "summary.json", {
        "namespace": namespace, "settled": settled, "produced": len(plan.records), "poison": plan.poison,
        "emulator": emulator.url, "tikstream": tikstream.url, "rows": [r.as_dict() for r in rows],
    })  # fmt: skip
    return 0 if settled and all(r.check == "ok" for r in rows) else 1


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
    for name in ("emulator.log", "tikstream.log"):
        (options.directory / name).unlink(missing_ok=True)
    shutil.rmtree(options.directory / "state", ignore_errors=True)
    auth = options.directory / "auth.json"
    auth.write_bytes(source.read_bytes())
    auth.chmod(0o600)


def _port(url: str) -> int:
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _start_emulator(service: Service, options: DemoOptions, run: Settings, env: Mapping[str, str],
                    out: TextIO) -> Emulator:
    emulator = Emulator(_port(run.tiktok_base_url))
    service.start(["tikstream.emulator", "--port", str(emulator.port), "--tokens", str(run.auth_file),
                   "--audience-ready-seconds", str(options.audience_ready_seconds), "--min-audience-size", "0",
                   "--seed", str(options.seed)], env)
    if not wait_until(lambda: http_ok(f"{emulator.url}/_emulator/health"), 30.0):
        raise ConfigError(f"the emulator did not start; see {service.log_file}:\n{_tail(service.log_file)}")
    print(f"emulator      {emulator.base_url} (state: {emulator.state_url})", file=out)
    return emulator


def _start_tikstream(service: Service, run: Settings, env: Mapping[str, str], out: TextIO) -> Tikstream:
    tikstream = Tikstream(run.http_port)
    service.start(["tikstream.cli", "run"], {**env, **_env(run)})
    print(f"tikstream run {tikstream.url}/metrics, /jobs (log {service.log_file}); waiting until ready ...",
          file=out, flush=True)
    if not wait_until(lambda: http_ok(f"{tikstream.url}/readyz") or not service.running(), 90.0) \
            or not service.running():
        raise ConfigError(f"tikstream did not become ready; see {service.log_file}:\n{_tail(service.log_file)}")
    return tikstream


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


def _print_summary(out: TextIO, rows: list[Row], plan: Plan, namespace: str, settled: bool, why: str,
                   elapsed: float) -> None:
    valid = len(plan.records) - plan.poison
    print(f"\nSummary: {len(plan.records)} records produced ({valid} triggers, {plan.poison} poison) "
          f"in namespace {namespace}; {elapsed:.0f}s so far", file=out)
    if not settled:
        print(f"(not settled: {why}; the numbers below may still move)", file=out)
    print(render(rows), file=out)
    print("ROUTED: tikstream's records_routed_total; ACCEPTED, MEMBERS: the emulator's /_emulator/state; "
          "DLQ: letters on the DLQ topic by job header.", file=out)


def _print_next(out: TextIO, options: DemoOptions, run: Settings, emulator: Emulator, tikstream: Tikstream,
                emulator_service: Service, tikstream_service: Service) -> None:
    env = options.directory / "env"
    print(f"""
Still running (stop everything with `make demo-down`):
  tikstream  {tikstream.url}/metrics  {tikstream.url}/jobs  (log {tikstream_service.log_file})
  emulator   {emulator.state_url}  (log {emulator_service.log_file})
Look next:
  source {env}                      # this run's TIKSTREAM_* settings
  tikstream jobs status             # state, audience id, pending files, sent, failed
  tikstream jobs list
  tikstream auth check tiktok-main  # the advertisers the demo token can manage
  tikstream dlq replay --dry-run    # what a replay would re-inject
  curl -s {tikstream.url}/metrics | grep '^tikstream_'""", file=out)
