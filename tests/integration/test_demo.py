"""Smoke test of `tikstream demo` (what `make demo` runs) on the running broker, on its own ports and topics,
with a small trigger count: it must settle, and its summary must match the emulator's own state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tikstream.demo.generator import POISON, make_plan
from tikstream.demo.observe import get_json
from tikstream.demo.services import http_ok
from tikstream.errors import InvalidRecord
from tikstream.records import decode

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"web-purchase": "C4ABCDEF", "app-trial": "7200000000000000001", "store-purchase": "1616318632825",
           "crm-qualified": "7300000000000000001"}


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "demo"
    yield directory
    subprocess.run([sys.executable, "-m", "tikstream.cli", "demo", "stop", "--dir", str(directory)],
                   capture_output=True, timeout=60)


@pytest.mark.timeout(120)
def test_demo_summary_matches_the_emulator(kafka_config: dict[str, str], demo_dir: Path) -> None:
    namespace = f"demo-test-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-m", "tikstream.cli", "demo", "--triggers", "150", "--duration", "3", "--flush-interval",
         "3", "--emulator-port", "0", "--http-port", "0", "--prometheus-port", "0", "--dir", str(demo_dir),
         "--namespace", namespace, "--examples", str(ROOT / "examples"), "--settle-timeout", "60",
         "--bootstrap-servers", kafka_config["bootstrap.servers"]],
        capture_output=True, text=True, timeout=110, env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Summary:" in result.stdout and f"tikstream demo stop --dir {demo_dir}" in result.stdout
    summary = orjson.loads((demo_dir / "summary.json").read_bytes())
    assert summary["settled"] and summary["namespace"] == namespace
    rows = {row["job"]: row for row in summary["rows"]}
    assert all(row["check"] == "ok" for row in rows.values()), rows

    state = get_json(summary["emulator"] + "/_emulator/state")
    assert isinstance(state, dict)
    for job, source in SOURCES.items():
        listed = get_json(f"{summary['emulator']}/_emulator/state?events=1&event_source_id={source}")
        unique = sum(1 for e in listed["events"]["list"] if not e["duplicate"])
        assert rows[job]["accepted"] == f"{unique} events" and unique > 0
        if job == "crm-qualified":  # every crm event carries its lead; those without one are dead-lettered
            assert all(e["lead"]["lead_id"] and e["lead"]["lead_event_source"] == "HubSpot"
                       for e in listed["events"]["list"])
            assert any("crm-qualified" in line and "crm_events" in line for line in result.stdout.splitlines())
    by_kind = {a["kind"]: a for a in state["audiences"]}
    assert len(by_kind) == len(state["audiences"]) == 2
    for job, kind, pending in (("vip-to-tiktok", "customer_file", "0"), ("vip-live", "segment", "-")):
        audience = by_kind[kind]
        assert rows[job]["audience"] == audience["id"]
        assert rows[job]["members"] == str(audience["members_count"]) and audience["members_count"] > 0
        assert rows[job]["pending"] == pending
    # one audience, two deliveries: as many ids (phone hashes differ: digits only in files, +E.164 streamed)
    assert by_kind["segment"]["members_count"] == by_kind["customer_file"]["members_count"]
    assert rows["(no job)"]["dlq"] == len(POISON) == summary["poison"]

    jobs = get_json(summary["tikstream"] + "/jobs")["jobs"]
    assert {j["id"] for j in jobs} == {*SOURCES, "vip-to-tiktok", "vip-live"}
    env = (demo_dir / "env").read_text()
    assert f"TIKSTREAM_GROUP_ID={namespace}" in env and "TIKSTREAM_TIKTOK_BASE_URL=" in env
    assert oct((demo_dir / "auth.json").stat().st_mode & 0o777) == "0o600"

    prometheus = summary["prometheus"]
    if shutil.which("prometheus") is None:
        assert prometheus is None and "apt-get install prometheus" in result.stdout
        return
    assert prometheus and f"prometheus    {prometheus} " in result.stdout
    (target,) = get_json(prometheus + "/api/v1/targets")["data"]["activeTargets"]
    assert target["scrapeUrl"] == summary["tikstream"] + "/metrics" and target["health"] == "up", target
    rules = get_json(prometheus + "/api/v1/rules")["data"]["groups"]
    assert any(r["name"] == "TikstreamJobPaused" for g in rules for r in g["rules"]), "alerts.yml not loaded"
    stopped = subprocess.run([sys.executable, "-m", "tikstream.cli", "demo", "stop", "--dir", str(demo_dir)],
                             capture_output=True, text=True, timeout=60)
    assert "prometheus" in stopped.stdout and not http_ok(prometheus + "/-/ready")


def test_demo_stop_stops_what_it_started(demo_dir: Path) -> None:
    stopped = subprocess.run([sys.executable, "-m", "tikstream.cli", "demo", "stop", "--dir", str(demo_dir)],
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0 and "no demo service was running" in stopped.stdout


# -- the generator (no Kafka needed, but it belongs to the demo) ------------------------------------------------

def test_plan_is_deterministic_and_decodable() -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    one, two = make_plan(300, seed=3, now=now), make_plan(300, seed=3, now=now)
    assert one == two
    assert len(one.records) == 300 + len(POISON) and one.poison == len(POISON)
    reasons = set()
    for record in one.records:
        value = record.value(now)
        if record.doc is None:
            with pytest.raises(InvalidRecord) as refused:
                decode(value, None)
            assert refused.value.reason == record.reason
            reasons.add(refused.value.reason)
        else:
            trigger = decode(value, None)
            assert (trigger.audience, trigger.event, trigger.user_id) == (record.audience, record.event, record.key)
    assert reasons == {reason for reason, _ in POISON}


def test_plan_has_enters_exits_and_varied_profiles() -> None:
    plan = make_plan(1000, seed=11)
    counts = plan.counts()
    assert counts[("vip_customers", "enter")] > counts[("vip_customers", "exit")] > 0
    profiles = [r.doc["user"] for r in plan.records if r.doc is not None]
    phones = {p["phone"][:3] for p in profiles if "phone" in p and p["phone"].startswith("+")}
    assert len(phones) >= 5, "phones from several countries"
    assert any("idfa" in p for p in profiles) and any("gaid" in p for p in profiles)
    assert any(len(p.get("email", "")) == 64 for p in profiles), "some e-mails arrive hashed"
    assert all(p["order"]["contents"] for p in profiles)
    assert counts[("qualified_leads", "enter")] > 0
    assert 0 < sum("lead_id" not in p for p in profiles) < len(profiles) / 5, "a few leads without a lead id"
    assert all(p.get("email", "x@example.com").strip().lower().split("@")[-1].endswith(".example")
               or "example." in p.get("email", "x@example.com").lower() or len(p["email"]) == 64 for p in profiles)


# -- summary and settling logic over hand-made snapshots (no services) ---------------------------------------------

def _jobs() -> list[Any]:
    from tikstream.demo.jobs import load_examples

    return [job for _, job, _ in load_examples(ROOT / "examples", 10)]


def _metrics(**families: dict[tuple[tuple[str, str], ...], float]) -> dict[str, Any]:
    return {f"tikstream_{name}": [(dict(labels), value) for labels, value in samples.items()]
            for name, samples in families.items()}


def test_summary_reports_jobs_without_a_sink_as_dead_lettered() -> None:
    from collections import Counter

    from tikstream.demo.observe import Snapshot
    from tikstream.demo.summary import build_rows, expected_routed

    jobs, plan = _jobs(), make_plan(200, seed=5)
    routed = _routed(jobs, plan)
    dlq: Counter[str | None] = Counter({j.id: expected_routed(j, plan) for j in jobs})
    dlq[None] = plan.poison
    snap = Snapshot(metrics=_metrics(records_routed_total=routed, dlq_records_total={(): float(dlq.total())}),
                    jobs=[{"id": j.id, "state": "unavailable", "last_error": "no sink for job type"} for j in jobs])
    rows = {r.job: r for r in build_rows(jobs, plan, snap, dlq, lambda source: 0)}
    assert rows["web-purchase"].accepted == "0 events"
    assert rows["web-purchase"].check.startswith("unavailable: no sink")
    assert rows["vip-to-tiktok"].dlq == expected_routed(jobs[0], plan)
    assert rows["(no job)"].check == "ok" and rows["(no job)"].dlq == plan.poison


def _routed(jobs: Any, plan: Any) -> dict[tuple[tuple[str, str], ...], float]:
    """``records_routed_total`` by job type, as tikstream counts it (two audience jobs: their sum)."""
    from tikstream.demo.summary import expected_routed

    routed: dict[tuple[tuple[str, str], ...], float] = {}
    for j in jobs:
        key = (("job_type", j.type),)
        routed[key] = routed.get(key, 0.0) + expected_routed(j, plan)
    return routed


def test_summary_flags_a_disagreement_with_the_emulator() -> None:
    from collections import Counter

    from tikstream.demo.observe import Snapshot
    from tikstream.demo.summary import build_rows, expected_dead_letters

    jobs, plan = _jobs(), make_plan(200, seed=5)
    routed = _routed(jobs, plan)
    sent = {(("job", j.id),): 10.0 for j in jobs}
    audience = {"id": "71", "name": "tikstream vip_customers 2026-11-25 10:00:00", "members_count": 3,
                "history": [{"action": "CREATE", "added": 3, "removed": 0}]}
    snap = Snapshot(metrics=_metrics(records_routed_total=routed, events_sent_total=sent,
                                     dlq_records_total={(): float(plan.poison)}),
                    jobs=[{"id": j.id, "state": "running", "audience_id": "71", "pending_files": 0} for j in jobs],
                    emulator={"audiences": [audience]})
    dlq: Counter[str | None] = Counter({None: plan.poison})
    rows = {r.job: r for r in build_rows(jobs, plan, snap, dlq, lambda source: 9)}
    assert rows["web-purchase"].check == "tikstream sent 10, emulator has 9"
    crm = next(j for j in jobs if j.type == "crm_events")
    letters = expected_dead_letters(crm, plan)
    assert letters > 0 and rows["crm-qualified"].check == f"tikstream sent 10, emulator has 9; 0 dead letters, " \
        f"{letters} planned (triggers without a lead id)"
    assert (rows["vip-to-tiktok"].audience, rows["vip-to-tiktok"].members, rows["vip-to-tiktok"].check) == \
        ("71", "3", "ok")


@pytest.mark.parametrize(("entry", "quiet_for", "busy"), [
    pytest.param({"pending_files": 0, "batch_users": 0, "shipping_batches": 0}, 0.0, False, id="idle"),
    pytest.param({"pending_files": 1, "batch_users": 0}, 99.0, True, id="file-pending"),
    pytest.param({"pending_files": 0, "batch_users": 12}, 99.0, True, id="batch-open"),
    pytest.param({}, 1.0, True, id="silent-sink-too-soon"),
    pytest.param({}, 99.0, False, id="silent-sink-after-a-flush-interval"),
    pytest.param({"state": "unavailable"}, 0.0, False, id="unavailable-job"),
])  # fmt: skip
def test_settled_waits_for_the_audience(entry: dict[str, Any], quiet_for: float, busy: bool) -> None:
    from tikstream.demo.observe import Snapshot
    from tikstream.demo.progress import settled

    jobs = _jobs()
    metrics = _metrics(records_consumed_total={(("topic", "t"),): 50.0}, commit_lag_records={})
    snap = Snapshot(metrics=metrics, jobs=[{"id": j.id, **entry} for j in jobs if j.type == "audience_export"])
    ok, why = settled(snap, 50, jobs, quiet_for, audience_wait=13.0)
    assert ok is not busy, why


def test_not_settled_while_records_are_unconsumed_or_uncommitted() -> None:
    from tikstream.demo.observe import Snapshot
    from tikstream.demo.progress import settled

    behind = Snapshot(metrics=_metrics(records_consumed_total={(): 40.0}))
    assert settled(behind, 50, [], 99.0, 13.0) == (False, "consumed 40 of 50")
    owed = Snapshot(metrics=_metrics(records_consumed_total={(): 50.0}, commit_lag_records={(): 3.0}))
    assert settled(owed, 50, [], 99.0, 13.0) == (False, "3 records not committed yet")
