"""The events sink's knobs (``build_events_sink(..., config=)`` overrides them: tests, benchmarks).

The job config holds what an operator tunes per job (``batch_max_events``, ``linger_ms``); these are the
sink's own limits and timings, the same for every job.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EventsSinkConfig"]


@dataclass(frozen=True, slots=True)
class EventsSinkConfig:
    max_in_flight: int = 4
    """Concurrent ``/event/track/`` requests of one job (its pool's threads); as many more wait queued."""
    max_held: int | None = None
    """Events one job may hold before ``submit`` raises ``BackPressure``; None: 4 x batch x in flight."""
    retry_base_seconds: float = 1.0
    """Backoff before resending a batch the client gave up on: doubles per attempt, with jitter..."""
    retry_cap_seconds: float = 15.0
    """... up to this."""
    auth_check_seconds: float = 3.0
    """How often the authorization file is looked at (for a token rotation, or to resume a paused job)."""
    auth_probe_seconds: float = 60.0
    """A paused job whose authorization did not change tries again this often."""
    metrics_interval_seconds: float = 1.0
    """How often the locally counted identifier outcomes are added to Prometheus."""
    redrain_seconds: float = 300.0
    """How often a running job looks for parked records (left by another instance that stopped paused)."""
