"""Faults on demand: throttling (40100), server errors (HTTP 500 / code 50000), latency and timeouts.

A request is dealt at most one fault, drawn before the request is handled, so a faulted request never changes
state. Draws come from one seeded ``random.Random``: the same seed and request order give the same faults.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from tikstream.emulator.options import FaultRates


class Fault(enum.Enum):
    TIMEOUT = "timeout"
    THROTTLE = "throttle"
    HTTP_500 = "http_500"
    CODE_50000 = "code_50000"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do to one request: wait ``delay_s`` first, then apply ``fault`` (None: handle normally)."""

    delay_s: float
    fault: Fault | None


class FaultInjector:
    """Draws a ``Decision`` per API request from the current ``FaultRates`` (replaceable at run time)."""

    def __init__(self, rates: FaultRates, seed: int | None) -> None:
        self.rates = rates
        self._rng = random.Random(seed)
        self._next_error_is_http = True

    def reseed(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._next_error_is_http = True

    def decide(self) -> Decision:
        rates = self.rates
        delay = rates.latency_ms / 1000.0
        if not (rates.timeout_rate or rates.throttle_rate or rates.error_rate):
            return Decision(delay, None)
        draw = self._rng.random()
        if draw < rates.timeout_rate:
            return Decision(delay + rates.timeout_seconds, Fault.TIMEOUT)
        draw -= rates.timeout_rate
        if draw < rates.throttle_rate:
            return Decision(delay, Fault.THROTTLE)
        draw -= rates.throttle_rate
        if draw < rates.error_rate:
            return Decision(delay, self._next_error())
        return Decision(delay, None)

    def _next_error(self) -> Fault:
        fault = Fault.HTTP_500 if self._next_error_is_http else Fault.CODE_50000
        self._next_error_is_http = not self._next_error_is_http
        return fault
