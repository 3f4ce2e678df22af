"""Routing: which jobs want a trigger. Pure; the table is immutable and rebuilt when the jobs change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tikstream.sinks.base import Sink


@dataclass(frozen=True, slots=True)
class Route:
    job_id: str
    job_type: str
    events: frozenset[str]  # trigger kinds the job wants: "enter", "exit"
    not_before: float  # epoch seconds: triggers produced before the job was created are not its business
    sink: Sink


class RoutingTable:
    """Routes by audience slug, then by trigger kind and production time."""

    __slots__ = ("_by_audience", "by_event", "routes")

    def __init__(self, entries: Iterable[tuple[Iterable[str], Route]] = ()) -> None:
        by_audience: dict[str, list[Route]] = {}
        routes = []
        for audiences, route in entries:
            routes.append(route)
            for audience in audiences:
                by_audience.setdefault(audience, []).append(route)
        self._by_audience: Mapping[str, tuple[Route, ...]] = MappingProxyType(
            {a: tuple(rs) for a, rs in by_audience.items()}
        )
        self.routes: tuple[Route, ...] = tuple(routes)
        self.by_event: Mapping[str, Mapping[str, tuple[Route, ...]]] = MappingProxyType({
            event: MappingProxyType({
                a: tuple(r for r in rs if event in r.events) for a, rs in self._by_audience.items()
                if any(event in r.events for r in rs)
            })
            for event in ("enter", "exit")
        })
        """For the poll loop's hot path: ``by_event[event][audience]`` -> the routes wanting that kind
        (before the creation-time check)."""

    def route(self, audience: str, event: str, produced_at: float) -> list[Route]:
        candidates = self._by_audience.get(audience)
        if not candidates:
            return []
        return [r for r in candidates if event in r.events and produced_at >= r.not_before]


EMPTY = RoutingTable()
