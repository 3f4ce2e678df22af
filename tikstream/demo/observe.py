"""What the demo reads back: tikstream's ``/metrics`` and ``/jobs``, and the emulator's ``/_emulator/state``.

Plain HTTP over loopback with the standard library; a service that does not answer yields an empty view
rather than an exception, so progress keeps printing while a service restarts.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Emulator", "Snapshot", "Tikstream", "get_json"]


def _get(url: str, timeout: float = 5.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bytes(resp.read())
    except (urllib.error.URLError, OSError):
        return None


def get_json(url: str, timeout: float = 5.0) -> Any:
    body = _get(url, timeout)
    if body is None:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


Samples = dict[str, list[tuple[Mapping[str, str], float]]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One look at tikstream and the emulator."""

    metrics: Samples = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    emulator: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``tikstream_<name>`` whose labels include ``labels``."""
        return sum(v for lbl, v in self.metrics.get(f"tikstream_{name}", [])
                   if all(lbl.get(k) == want for k, want in labels.items()))

    def job(self, job_id: str) -> dict[str, Any]:
        return next((j for j in self.jobs if j.get("id") == job_id), {})

    def audience(self, audience_id: str | None) -> dict[str, Any] | None:
        return next((a for a in self.emulator.get("audiences", []) if a.get("id") == audience_id), None)

    def audience_named(self, slug: str) -> dict[str, Any] | None:
        """The emulator audience whose name carries `` slug `` (``{prefix} {audience} {time}``)."""
        return next((a for a in self.emulator.get("audiences", []) if f" {slug} " in f" {a.get('name', '')} "),
                    None)

    @property
    def emulator_events(self) -> int:
        return int(self.emulator.get("events", {}).get("unique", 0))


@dataclass(frozen=True, slots=True)
class Tikstream:
    """A running ``tikstream run`` on ``port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> Samples:
        body = _get(f"{self.url}/metrics")
        samples: Samples = {}
        if body is None:
            return samples
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                samples.setdefault(s.name, []).append((s.labels, float(s.value)))
        return samples

    def jobs(self) -> list[dict[str, Any]]:
        doc = get_json(f"{self.url}/jobs")
        return list(doc.get("jobs", [])) if isinstance(doc, dict) else []


@dataclass(frozen=True, slots=True)
class Emulator:
    """A running ``tikstream emulator`` on ``port``."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/open_api/v1.3"

    @property
    def state_url(self) -> str:
        return f"{self.url}/_emulator/state"

    def state(self) -> dict[str, Any]:
        doc = get_json(self.state_url)
        return doc if isinstance(doc, dict) else {}

    def unique_events(self, source_id: str) -> int:
        """Events received for one ``event_source_id``, duplicates (same ``event_id``) not counted."""
        doc = get_json(f"{self.state_url}?events=1&event_source_id={source_id}", timeout=30.0)
        events = doc.get("events", {}).get("list", []) if isinstance(doc, dict) else []
        return sum(1 for e in events if not e.get("duplicate"))


def snapshot(tikstream: Tikstream, emulator: Emulator) -> Snapshot:
    return Snapshot(tikstream.metrics(), tikstream.jobs(), emulator.state())
