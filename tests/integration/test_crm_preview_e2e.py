"""CRM events and ``jobs preview`` end to end: real Kafka, the real App on a thread, the emulator over sockets.

* A crm_events job: its events reach the emulator with their lead ids (refereed as docs/tiktok-api.md §3.2 says),
  and the one trigger without a lead id lands in the DLQ with that reason, its offset committed.
* ``tikstream jobs preview --json`` (the CLI, as a user runs it) over every job of ``examples/`` and
  ``examples/triggers.jsonl`` prints exactly the bodies that a real run then sends to the emulator for the same
  triggers: the ``/event/track/`` bodies, batch by batch, and the audience's file lines against its members.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from conftest import produce, running_app
from emulator_proc import admin_url, running_emulator
from instances import wait_for

from tikstream.errors import ConfigError
from tikstream.kafka.config_topic import publish
from tikstream.kafka.reader import EndReader
from tikstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TRIGGERS = EXAMPLES / "triggers.jsonl"
CREATED = "2020-01-01T00:00:00Z"
EXTRAS = ("source", "source_id", "test_event_code", "received_at", "duplicate")


class Env:
    def __init__(self, kafka: dict[str, str], new_topic: Callable[..., str], base: str, tmp: Path) -> None:
        self.kafka, self.base, self.tmp = kafka, base, tmp
        self.triggers = new_topic(1, "triggers")  # one partition: the real run sees the file's order
        self.config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
        self.dlq = new_topic(1, "dlq")
        self.group = f"g-{uuid.uuid4().hex[:8]}"

    def settings(self) -> Settings:
        return Settings(bootstrap_servers=self.kafka["bootstrap.servers"], trigger_topics=(self.triggers,),
                        config_topic=self.config, dlq_topic=self.dlq, group_id=self.group,
                        tiktok_base_url=self.base, auth_file=EXAMPLES / "auth.json", http_port=0,
                        state_dir=self.tmp / "state")

    def state(self, query: str = "") -> Any:
        response = httpx.get(admin_url(self.base, f"state{query}"), timeout=60)
        response.raise_for_status()
        return response.json()

    def bodies(self, source_id: str) -> list[dict[str, Any]]:
        """The ``/event/track/`` bodies the emulator accepted for ``source_id``, rebuilt from its kept events
        (the events of one request share its receipt time)."""
        bodies: dict[float, dict[str, Any]] = {}
        for event in self.state(f"?events=1&event_source_id={source_id}")["events"]["list"]:
            body = bodies.setdefault(event["received_at"], {
                "event_source": event["source"], "event_source_id": event["source_id"],
                **({"test_event_code": event["test_event_code"]} if event["test_event_code"] else {}), "data": []})
            body["data"].append({k: v for k, v in event.items() if k not in EXTRAS})
        return [bodies[at] for at in sorted(bodies)]

    def publish_jobs(self, jobs: list[dict[str, Any]]) -> None:
        publish(self.kafka, self.config, [(j["id"], orjson.dumps({**j, "created_at": CREATED})) for j in jobs])

    def produce_file(self, path: Path) -> None:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        produce(self.kafka, self.triggers, [(orjson.loads(v)["user_id"].encode(), v) for v in lines])

    def dead_letters(self) -> list[Any]:
        with EndReader(self.kafka, f"{self.group}.test", error=ConfigError) as reader:
            return list(reader.read(self.dlq, {p: None for p in reader.partitions(self.dlq)}))

    def committed(self) -> int | None:
        with EndReader(self.kafka, self.group, error=ConfigError) as reader:
            return reader.committed([(self.triggers, 0)])[(self.triggers, 0)].offset


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Callable[..., str], tmp_path: Path) -> Any:
    args = ("--tokens", str(EXAMPLES / "auth.json"), "--min-audience-size", "0", "--audience-ready-seconds", "0")
    with running_emulator(*args) as base:
        yield Env(kafka_config, new_topic, base, tmp_path)


def example(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(doc, dict)
    return doc


def preview_cli(env: Env, job_file: Path, *source: str) -> dict[str, Any]:
    vars_ = {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": env.kafka["bootstrap.servers"]}
    done = subprocess.run([sys.executable, "-m", "tikstream.cli", "jobs", "preview", "-f", str(job_file), *source,
                           "--json"], env=vars_, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = orjson.loads(done.stdout)
    return doc


def test_crm_events_reach_the_emulator_with_lead_ids_and_one_without_goes_to_the_dlq(env: Env) -> None:
    job = example("crm-events.yaml")
    env.publish_jobs([job])
    leads = [orjson.dumps({"audience": "qualified_leads", "event": "enter", "user_id": f"lead-{i}",
                           "ts": 1_800_000_000 + i, "user": {"email": f"lead{i}@example.com", "lead_id": 73_000 + i,
                                                             "deal_value": i * 10}}) for i in range(40)]
    without = orjson.dumps({"audience": "qualified_leads", "event": "enter", "user_id": "lead-x",
                            "ts": 1_800_000_100, "user": {"email": "nolead@example.com"}})
    values = [*leads[:20], without, *leads[20:]]
    produce(env.kafka, env.triggers, [(orjson.loads(v)["user_id"].encode(), v) for v in values])
    with running_app(env.settings(), env.base, EXAMPLES / "auth.json"):
        wait_for(lambda: env.state()["events"]["unique"] >= 40, 90, "40 crm events at the emulator", poll=0.5)
        wait_for(lambda: env.committed() == len(values), 60, "the trigger topic committed to its end")
    events = env.state(f"?events=1&event_source_id={job['event_set_id']}")["events"]["list"]
    assert {e["source"] for e in events} == {"crm"}
    assert sorted(e["lead"]["lead_id"] for e in events) == sorted(str(73_000 + i) for i in range(40))
    assert {e["lead"]["lead_event_source"] for e in events} == {"HubSpot"}
    assert set(env.state()["requests"]["/open_api/v1.3/event/track/"]) == {"ok"}
    (letter,) = env.dead_letters()
    headers = dict(letter.headers)
    assert letter.value == without and letter.key == b"lead-x"
    assert headers["error_class"] == b"missing_lead_id" and headers["job"] == b"crm-qualified"
    assert b"no lead id at user.lead_id" in (headers["error"] or b"")
    assert headers["source_offset"] == b"20"


def test_preview_prints_exactly_the_bodies_a_real_run_sends(env: Env) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    previews = {f.name: preview_cli(env, f, "--triggers", str(TRIGGERS)) for f in files}
    jobs = [example(f.name) for f in files]
    audience = next(j for j in jobs if j["type"] == "audience_export")
    audience["flush_interval_seconds"] = 1  # ship at once; how a batch is made does not depend on it
    assert {j.get("existing_users") for j in jobs if j["type"] == "audience_export"} == {True}  # as examples/ say
    env.publish_jobs(jobs)
    env.produce_file(TRIGGERS)
    expected_events = sum(len(r["body"]["data"]) for p in previews.values() for r in p["requests"]
                          if r["path"] == "/event/track/")
    assert expected_events >= 5

    def audience_members() -> set[str]:  # the file job's audience (the streaming job has a segment audience)
        found = [a for a in env.state("?members=1")["audiences"] if a["kind"] == "customer_file"]
        return set(found[0]["members"]) if found else set()

    streamed = [r["body"] for p in previews.values() for r in p["requests"] if r["path"] == "/segment/mapping/"]
    assert streamed, "examples/ holds a streaming audience job"

    def segment_bodies() -> list[dict[str, Any]]:  # as received, with the preview's audience id placeholder
        state = env.state("?mappings=1")
        ids = {a["id"] for a in state["audiences"] if a["kind"] == "segment"}
        text = orjson.dumps(state.get("mappings", [])).decode()
        for audience_id in ids:
            text = text.replace(f'"{audience_id}"', '"<audience_id>"')
        return orjson.loads(text)  # type: ignore[no-any-return]

    appended = {cell for p in previews.values() for r in p["requests"] if r["path"].endswith("/file/upload/")
                for line in r["body"]["lines"][1:] for cell in line.split(",") if cell}  # [0]: the header
    assert appended
    with running_app(env.settings(), env.base, EXAMPLES / "auth.json"):
        wait_for(lambda: env.state()["events"]["unique"] >= expected_events, 90, "every event", poll=0.5)
        wait_for(lambda: audience_members() == appended, 90, "the audience's members", poll=0.5)
        wait_for(lambda: len(segment_bodies()) >= len(streamed), 90, "the streaming job's requests", poll=0.5)
        assert segment_bodies() == streamed
        wait_for(lambda: len(env.dead_letters()) == 1, 30, "the crm trigger without a lead id")
    for job, name in zip(jobs, (f.name for f in files), strict=True):
        if job["type"] == "audience_export":
            continue
        source_id = str(job.get("pixel_code") or job.get("app_id") or job.get("event_set_id"))
        sent = env.bodies(source_id)
        assert sent == [r["body"] for r in previews[name]["requests"]], name
    (letter,) = env.dead_letters()
    crm = previews["crm-events.yaml"]["triggers"]
    assert [t["dropped"][0]["field"] for t in crm if t["routed"] and t["dropped"]
            and t["dropped"][0]["field"] == "lead.lead_id"] == ["lead.lead_id"]
    assert dict(letter.headers)["error_class"] == b"missing_lead_id"

    # --topic --count N: the last N records of the trigger topic give the same requests as the file
    count = len([line for line in TRIGGERS.read_text().splitlines() if line.strip()])
    for f in files:
        from_topic = preview_cli(env, f, "--topic", env.triggers, "--count", str(count))
        assert from_topic["requests"] == previews[f.name]["requests"], f.name
        assert [t["offset_or_line"] for t in from_topic["triggers"]] == [f"0:{i}" for i in range(count)]
