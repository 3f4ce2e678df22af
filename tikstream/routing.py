"""Routing: which jobs want a trigger. Pure; the table is immutable and rebuilt when the jobs change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from tikstream.records import Partition, Trigger

__all__ = ["Destination", "Route", "RoutingTable"]


class Destination(Protocol):
    """Where a route delivers: the ``submit`` half of the sink contract (``tikstream.sinks.base.Sink``)."""

    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    job_id: str
    job_type: str
    events: frozenset[str]  # trigger kinds the job wants: "enter", "exit"
    not_before: float  # epoch seconds: triggers produced before the job was created are not its business
    sink: Destination


class RoutingTable:
    """Routes by trigger kind, then audience slug, then production time."""

    __slots__ = ("by_event",)

    def __init__(self, entries: Iterable[tuple[Iterable[str], Route]] = ()) -> None:
        by_event: dict[str, dict[str, list[Route]]] = {"enter": {}, "exit": {}}
        for audiences, route in entries:
            for event in route.events:
                for audience in audiences:
                    by_event[event].setdefault(audience, []).append(route)
        self.by_event: Mapping[str, Mapping[str, tuple[Route, ...]]] = MappingProxyType({
            event: MappingProxyType({a: tuple(rs) for a, rs in by_audience.items()})
            for event, by_audience in by_event.items()
        })
        """``by_event[event][audience]`` -> the routes wanting that kind, before the creation-time check."""

    def route(self, audience: str, event: str, produced_at: float) -> list[Route]:
        """The routes of a trigger: its kind and audience match, and it was produced after the job was created
        (``not_before``). The one place that applies the routing rule."""
        candidates = self.by_event.get(event, {}).get(audience)
        if not candidates:
            return []
        return [r for r in candidates if produced_at >= r.not_before]
