"""``identifier_values_total`` and ``identifier_dropped_total`` counts of one job, aggregated in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from tikstream.mapping.hashing import Outcome

__all__ = ["IdentifierCounts"]

_OUTCOMES: Final = tuple(Outcome)


class IdentifierCounts:
    """Counts of one job, aggregated in memory and taken in bulk.

    The mapper only appends each value's ``Outcome`` to its field's list (a C call; counting into a dict
    keyed by the enum would hash it in Python, several times slower); ``take`` and ``compact`` count the
    lists with ``list.count`` (identity compares in C). A dropped value also appends its reason (rare, so
    its explainer runs only then). Not thread-safe: one mapper, one thread.
    """

    __slots__ = ("_dropped", "_drops", "_seen", "_totals")

    def __init__(self, fields: list[str]) -> None:
        self._seen: dict[str, list[Outcome]] = {f: [] for f in fields}
        self._totals: dict[str, dict[Outcome, int]] = {f: dict.fromkeys(_OUTCOMES, 0) for f in fields}
        self._dropped: dict[str, list[str]] = {f: [] for f in fields}
        self._drops: dict[tuple[str, str], int] = {}

    def recorder(self, field: str) -> Callable[[Outcome], None]:
        """The function the mapper calls with each outcome of ``field``."""
        return self._seen[field].append

    def dropper(self, field: str, explain: Callable[[object], str]) -> Callable[[object], None]:
        """The function the mapper calls with each raw value of ``field`` it dropped as INVALID."""
        reasons = self._dropped[field].append

        def drop(raw: object) -> None:
            reasons(explain(raw))

        return drop

    def add(self, field: str, outcomes: Sequence[int]) -> None:
        """Add counts taken elsewhere (the native core): ``outcomes[i]`` values of ``field`` had the i-th
        ``Outcome`` (in the enum's order)."""
        totals = self._totals[field]
        for outcome, n in zip(_OUTCOMES, outcomes, strict=False):
            if n:
                totals[outcome] += n

    def compact(self) -> None:
        """Fold the recorded outcomes into totals (bounds memory between two ``take``)."""
        for field, seen in self._seen.items():
            if seen:
                totals = self._totals[field]
                for outcome in _OUTCOMES:
                    totals[outcome] += seen.count(outcome)
                seen.clear()
        for field, reasons in self._dropped.items():
            if reasons:
                for reason in set(reasons):
                    key = (field, reason)
                    self._drops[key] = self._drops.get(key, 0) + reasons.count(reason)
                reasons.clear()

    def take(self) -> dict[tuple[str, str], int]:
        """The counts since the last call, ``(field, outcome label) -> n`` (non-zero only), and reset."""
        self.compact()
        out: dict[tuple[str, str], int] = {}
        for field, totals in self._totals.items():
            for outcome, n in totals.items():
                if n:
                    out[(field, outcome.value)] = n
                    totals[outcome] = 0
        return out

    def take_drops(self) -> dict[tuple[str, str], int]:
        """The dropped values since the last call, ``(field, reason) -> n``, and reset."""
        self.compact()
        out, self._drops = self._drops, {}
        return out
