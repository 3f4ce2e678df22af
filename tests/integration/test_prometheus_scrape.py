"""A real scrape: Prometheus (the binary from `apt-get install prometheus`) runs the project's scrape config and
alert rules (deploy/prometheus, with only the target and the scrape interval replaced) against a real
``tikstream run`` with the emulator behind it and a small load of every kind: an events job (some identifiers
invalid, some events TikTok rejects), an events job paused because its authorization is not in the file, an
audience (customer file) job with an ``existing_users`` backfill, poison records for the DLQ, a rejected job
config, and TikTok throttling so requests are retried.

Then every query of the Grafana dashboard and every alert expression goes through ``/api/v1/query``: each
must parse; each dashboard query must return a series with the labels its legend shows; for an alert, every
selector in its expression must return series, with the labels its ``by`` groups on (the alert's condition
need not hold). A failure names the panel or the alert. Skipped when ``prometheus`` is not on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from conftest import produce
from emulator_proc import running_emulator
from instances import wait_for
from promql_selectors import selectors

from tikstream.demo.prometheus import scrape_config, write_scrape_config
from tikstream.kafka.config_topic import publish

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tikstream.json"
SCRAPE_INTERVAL = "1s"
DATA_TIMEOUT_S = 150.0
SCRAPE_JOB = "tikstream"

EVENTS_JOB, PAUSED_JOB, AUDIENCE_JOB, BAD_JOB = "obs-web", "obs-paused", "obs-vip", "obs-bad"
JOB_IDS = {EVENTS_JOB, PAUSED_JOB, AUDIENCE_JOB}
PIXEL, ADVERTISER = "C4ABCDEF", "7000000000000000000"

pytestmark = [
    pytest.mark.skipif(shutil.which("prometheus") is None,
                       reason="prometheus not on PATH: apt-get install prometheus (.ci/run installs it)"),
    pytest.mark.timeout(420),  # the first test also sets the stack up, and waits up to DATA_TIMEOUT_S for data
]


# -- what is queried --------------------------------------------------------------------------------------------

GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "15m", "__range_s": "900"}


def _grafana_expr(expr: str, dashboard: dict[str, Any]) -> str:
    """The query Grafana would send: built-in variables by plausible values, a template variable by its current
    value (``.*`` when it has none or it is "All")."""
    values = dict(GRAFANA_BUILTINS)
    for var in dashboard.get("templating", {}).get("list", []):
        current = (var.get("current") or {}).get("value")
        values[var["name"]] = current if isinstance(current, str) and current not in ("", "$__all") else ".*"
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"[[{name}]]", values[name])
        expr = re.sub(rf"\${re.escape(name)}\b", values[name], expr)
    return expr


@dataclass(frozen=True)
class Query:
    where: str  # the panel title and refId, or the alert name
    expr: str
    legend: str = ""


def _panels() -> list[Query]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                out.append(Query(f"panel {panel['title']!r} ({target.get('refId', '?')})",
                                 _grafana_expr(target["expr"], dashboard), target.get("legendFormat", "")))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return out


def _alerts() -> list[Query]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [Query(f"alert {r['alert']}", r["expr"]) for g in doc["groups"] for r in g["rules"] if "alert" in r]


PANELS, ALERT_RULES = _panels(), _alerts()


# -- the stack --------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    url: str
    config: Path
    log: Path
    notes: list[str] = field(default_factory=list)

    def query(self, expr: str) -> dict[str, Any]:
        """``/api/v1/query`` at now: ``{"status": "success", "data": ...}`` or ``{"status": "error", ...}``."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30)
        body: dict[str, Any] = response.json()
        return body

    def series(self, expr: str) -> list[dict[str, str]]:
        body = self.query(expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        data = body["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{}]
        return [dict(item["metric"]) for item in data["result"]]

    def api(self, path: str) -> Any:
        return httpx.get(f"{self.url}/api/v1/{path}", timeout=30).json()["data"]


def _job(job_id: str, **fields: Any) -> bytes:
    return orjson.dumps({"id": job_id, "created_at": "2020-01-01T00:00:00Z", **fields})


def _events_job(job_id: str, auth: str) -> bytes:
    return _job(job_id, type="web_events", auth=auth, audiences=["shop"], triggers=["enter", "exit"],
                pixel_code=PIXEL, event_name="Purchase", page_url_field="user.page",
                identifiers={"user.email": "email", "user.phone": "phone", "user_id": "external_id"},
                properties={"user.total": "value", "user.currency": "currency"})


def _trigger(i: int, audience: str, event: str, *, email: str | None = None,
             total: object = 10) -> tuple[bytes, bytes]:
    doc = {"audience": audience, "event": event, "user_id": f"u-{i}", "ts": int(time.time()),
           "user": {"email": email or f"User{i}@Example.com", "phone": f"+1 213 373 {i % 10000:04d}",
                    "total": total, "currency": "USD", "page": f"https://shop.example/p/{i}"}}
    return f"u-{i}".encode(), orjson.dumps(doc)


def _load(phase: int) -> list[tuple[bytes | None, bytes | None]]:
    """Triggers for the events jobs (a few with an invalid e-mail, two TikTok rejects), the audience, poison."""
    base = phase * 1000
    out: list[tuple[bytes | None, bytes | None]] = []
    for i in range(base, base + 200):
        email = "not an e-mail" if i % 25 == 0 else None
        out.append(_trigger(i, "shop", "enter" if i % 3 else "exit", email=email,
                            total="forty-two" if i in (base + 7, base + 111) else 10))
        out.append(_trigger(i, "vip", "exit" if phase and i % 10 == 0 else "enter"))
    out += [(b"poison-1", b"{not json"), (b"poison-2", b'{"audience": "shop", "user_id": "u"}'), (b"poison-3", None)]
    return out


def _committed_to_end(kafka: dict[str, str], group: str, topic: str, partitions: int, timeout: float) -> None:
    consumer = Consumer({**kafka, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        wait_for(lambda: [tp.offset for tp in consumer.committed(tps, timeout=10)] == ends, timeout,
                 "tikstream to commit the first triggers", poll=0.5)
    finally:
        consumer.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def prometheus(kafka_config: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("prometheus-scrape")
    admin = AdminClient(kafka_config)
    suffix = uuid.uuid4().hex[:10]
    triggers, config, dlq = f"obs-triggers-{suffix}", f"obs-jobs-{suffix}", f"obs-dlq-{suffix}"
    specs = [NewTopic(triggers, 3, 1), NewTopic(config, 1, 1, config={"cleanup.policy": "compact"}),
             NewTopic(dlq, 1, 1)]
    for fut in admin.create_topics(specs).values():
        fut.result(30)
    group = f"g-obs-{suffix}"
    auth = tmp / "auth.json"
    auth.write_bytes(orjson.dumps({"authorizations": {
        "pixel": {"kind": "events_token", "access_token": "tok-web", "pixel_code": PIXEL},
        "main": {"kind": "tiktok_signin", "access_token": "tok-main", "app_id": "app", "secret": "s"},
    }}))  # no "elsewhere": the job that names it pauses
    publish(kafka_config, config, [
        (EVENTS_JOB, _events_job(EVENTS_JOB, "pixel")),
        (PAUSED_JOB, _events_job(PAUSED_JOB, "elsewhere")),
        (BAD_JOB, _job(BAD_JOB, type="web_events", auth="pixel")),  # invalid: rejected
    ])
    http_port = free_port()
    stderr = tmp / "tikstream.stderr"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with running_emulator("--audience-ready-seconds", "2", "--min-audience-size", "0",
                              "--throttle-rate", "0.15", "--seed", "5") as base_url:
            env = {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"],
                   "TIKSTREAM_TRIGGER_TOPICS": triggers, "TIKSTREAM_CONFIG_TOPIC": config,
                   "TIKSTREAM_DLQ_TOPIC": dlq, "TIKSTREAM_GROUP_ID": group, "TIKSTREAM_TIKTOK_BASE_URL": base_url,
                   "TIKSTREAM_AUTH_FILE": str(auth), "TIKSTREAM_HTTP_PORT": str(http_port),
                   "TIKSTREAM_STATE_DIR": str(tmp / "state")}
            procs.append(subprocess.Popen([sys.executable, "-m", "tikstream.cli", "run"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=stderr.open("wb")))
            port = free_port()
            prom = Prometheus(f"http://127.0.0.1:{port}", tmp / "prometheus.yml", tmp / "prometheus.log")
            write_scrape_config(SCRAPE_CONFIG, f"127.0.0.1:{http_port}", prom.config, SCRAPE_INTERVAL)
            procs.append(subprocess.Popen(
                [shutil.which("prometheus") or "prometheus", f"--config.file={prom.config}",
                 f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={tmp / 'tsdb'}"],
                stdout=subprocess.DEVNULL, stderr=prom.log.open("wb"),
            ))  # fmt: skip

            def ready() -> bool:
                assert procs[1].poll() is None, f"prometheus exited:\n{_tail(prom.log)}"
                assert procs[0].poll() is None, f"tikstream run exited:\n{_tail(stderr)}"
                with contextlib.suppress(httpx.HTTPError):
                    return httpx.get(f"{prom.url}/-/ready", timeout=2).status_code == 200 and httpx.get(
                        f"http://127.0.0.1:{http_port}/readyz", timeout=2).status_code == 200
                return False

            wait_for(ready, 90, "prometheus and tikstream run to be ready", poll=0.5)
            produce(kafka_config, triggers, _load(0))
            _committed_to_end(kafka_config, group, triggers, 3, 90)  # the membership table holds them now
            # the audience job comes later, so existing_users has users to backfill
            publish(kafka_config, config, [(AUDIENCE_JOB, orjson.dumps({
                "id": AUDIENCE_JOB, "type": "audience_export", "auth": "main", "audience": "vip",
                "advertiser_id": ADVERTISER, "identifiers": {"user.email": "EMAIL_SHA256"},
                "flush_interval_seconds": 2, "existing_users": True}))])
            time.sleep(3)
            produce(kafka_config, triggers, _load(1))

            def every_panel_has_data() -> bool:
                assert procs[0].poll() is None, f"tikstream run exited:\n{_tail(stderr)}"
                return all(_series_or_none(prom, q.expr) for q in PANELS)

            try:
                wait_for(every_panel_has_data, DATA_TIMEOUT_S, "every dashboard query to return data", poll=2)
            except AssertionError as exc:  # the tests below say which panels
                prom.notes.append(str(exc))
            time.sleep(3)  # a few more scrapes
            yield prom
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for fut in admin.delete_topics([triggers, config, dlq]).values():
            with contextlib.suppress(Exception):
                fut.result(30)


def _series_or_none(prom: Prometheus, expr: str) -> list[dict[str, str]]:
    body = prom.query(expr)
    if body["status"] != "success":
        return []
    return [dict(item.get("metric", {})) for item in body["data"]["result"]]


# -- the tests --------------------------------------------------------------------------------------------------

def test_prometheus_runs_the_project_config_and_rules(prometheus: Prometheus) -> None:
    real = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    used = yaml.safe_load(prometheus.config.read_text(encoding="utf-8"))
    assert used == scrape_config(SCRAPE_CONFIG, used["scrape_configs"][0]["static_configs"][0]["targets"][0],
                                 SCRAPE_INTERVAL)
    assert [Path(f) for f in used["rule_files"]] == [ALERTS], "the rules must be the real alerts.yml"
    for doc in (real, used):  # only the target, the scrape interval and the rule path differ
        doc["scrape_configs"][0]["static_configs"][0].pop("targets")
        doc["global"].pop("scrape_interval")
        doc["rule_files"] = [Path(f).name for f in doc["rule_files"]]
    assert used == real

    (target,) = prometheus.api("targets")["activeTargets"]
    assert target["labels"]["job"] == SCRAPE_JOB and target["health"] == "up", target
    loaded = {r["name"]: r for g in prometheus.api("rules")["groups"] for r in g["rules"]}
    assert set(loaded) == {q.where.removeprefix("alert ") for q in ALERT_RULES}
    assert all(r["health"] != "err" for r in loaded.values()), [(n, r["lastError"]) for n, r in loaded.items()]


def test_the_job_label_is_the_tikstream_job_id(prometheus: Prometheus) -> None:
    renamed = prometheus.series('group by (__name__) ({__name__=~"tikstream_.+", exported_job!=""})')
    assert renamed == [], "scraped without honor_labels: the job id is in exported_job"
    assert {s["job"] for s in prometheus.series("tikstream_job_paused")} == {EVENTS_JOB, PAUSED_JOB}
    assert prometheus.series(f'tikstream_job_paused{{job="{PAUSED_JOB}"}} == 1'), "the paused job"
    assert {s["job"] for s in prometheus.series("tikstream_audience_pending_files")} == {AUDIENCE_JOB}
    assert {s["job"] for s in prometheus.series("up")} == {SCRAPE_JOB}


@pytest.mark.parametrize("query", [pytest.param(q, id=q.where) for q in PANELS])
def test_dashboard_query_returns_data(prometheus: Prometheus, query: Query) -> None:
    body = prometheus.query(query.expr)
    assert body["status"] == "success", f"{query.where}: {query.expr!r} does not parse: {body.get('error')}"
    series = [dict(item.get("metric", {})) for item in body["data"]["result"]]
    hint = f" ({'; '.join(prometheus.notes)})" if prometheus.notes else ""
    assert series, f"{query.where}: no data for {query.expr!r}{hint}"
    for label in re.findall(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}", query.legend):
        missing = [s for s in series if not s.get(label)]
        assert not missing, f"{query.where}: legend shows {{{{{label}}}}}, but series lack it: {missing[:3]}"
        if label == "job":
            assert {s["job"] for s in series} <= JOB_IDS, f"{query.where}: `job` is not a tikstream job id"


@pytest.mark.parametrize("query", [pytest.param(q, id=q.where) for q in ALERT_RULES])
def test_alert_selectors_return_series(prometheus: Prometheus, query: Query) -> None:
    body = prometheus.query(query.expr)
    assert body["status"] == "success", f"{query.where}: the expression does not parse: {body.get('error')}"
    found = selectors(query.expr)
    assert found, f"{query.where}: no selector found in {query.expr!r}"
    problems = []
    for selector in found:
        series = _series_or_none(prometheus, selector.text)
        if not series:
            problems.append(f"{selector.text} returns no series")
            continue
        for label in selector.by:
            if not all(s.get(label) for s in series):
                problems.append(f"{selector.text} has no label {label!r} (the expression groups by it)")
            elif label == "job" and selector.metric != "up" and not {s["job"] for s in series} <= JOB_IDS:
                problems.append(f"{selector.text}: its `job` label is not the tikstream job id")
    assert not problems, f"{query.where}: " + "; ".join(problems)

