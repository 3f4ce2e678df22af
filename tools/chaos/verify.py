"""The loss verifier of the fault runs (`make chaos`, `make soak`): what reached the emulator against what was
produced. It reads only the emulator's `/_emulator/state` (over its socket) and the DLQ's end offsets; the runs
keep the expectations (which triggers they produced) and ask these functions what arrived.

- events: `events_by_user` (each user's event ids, for runs small enough to list every event) or
  `unique_by_source` (distinct event ids per `event_source_id`, counted by the emulator, for long runs);
- audiences: `audiences_named` and `expected_members` (the hashes the members' e-mails must have);
- dead letters: `dlq_count`.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from tikstream.mapping.normalise import audience_id_value

__all__ = ["audiences_named", "dlq_count", "emulator_state", "events_by_user", "expected_members",
           "unique_by_source"]


def emulator_state(admin_state_url: str, query: str = "") -> Any:
    """`GET /_emulator/state` with ``query`` (e.g. ``?events=1&members=1``)."""
    with urllib.request.urlopen(admin_state_url + query, timeout=120) as r:
        return orjson.loads(r.read())


def events_by_user(state: Mapping[str, Any]) -> dict[str, set[str]]:
    """Listed events (``?events=1``) grouped by their ``external_id``: the event ids each user got."""
    ids: dict[str, set[str]] = {}
    for ev in state["events"].get("list", []):
        ext = ev.get("user", {}).get("external_id")
        ext = ext[0] if isinstance(ext, list) else ext
        ids.setdefault(ext, set()).add(ev.get("event_id"))
    return ids


def unique_by_source(state: Mapping[str, Any]) -> dict[str, int]:
    """Distinct event ids the emulator accepted per ``event_source_id`` (duplicates not counted)."""
    return dict(state["events"].get("unique_by_source", {}))


def audiences_named(state: Mapping[str, Any], part: str) -> list[dict[str, Any]]:
    """The emulator's audiences whose name contains ``part`` (a job's audience slug is in its name)."""
    return [a for a in state["audiences"] if part in a.get("name", "")]


def expected_members(members: Mapping[str, bool], emails: Mapping[str, str]) -> set[str]:
    """The EMAIL_SHA256 hashes of the users whose last trigger was an *enter*."""
    out = set()
    for uid, member in members.items():
        if member:
            value, _ = audience_id_value("EMAIL_SHA256", emails[uid], None)
            assert value is not None
            out.add(value)
    return out


def dlq_count(bootstrap: str, topic: str) -> int:
    """Records ever written to the DLQ ``topic`` (the sum of its end offsets; 0 when it does not exist)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"v-{uuid.uuid4().hex}"})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions)
    finally:
        c.close()
