"""The soak's verdict from its samples: growth, flatness and latency against the goals (pure; unit-tested).

A sample is taken every 10 s: the tikstream process's RSS, threads and open descriptors, the consumer lag, and
the delivery latency of the events TikTok (the emulator) received in those 10 s. The goals:

- **RSS growth** after the warm-up (the first 2 minutes) at most 10 %: the median of the last minute's samples
  against the median of the first minute after the warm-up (medians, so one garbage-collector swing does not
  decide);
- **threads and descriptors flat** after the warm-up: the last minute's median at most a small tolerance above
  the first minute's (a leak grows without bound; a short-lived reader that opens a consumer for a few seconds,
  like an events job's periodic look at its parked records, is a spike, not growth: the spread is reported);
- **p99 latency at most 1 s in every window** while the load runs, and no such window without deliveries
  (a stall is not a low latency).

A run shorter than the warm-up and a minute is judged on its second half, so a smoke run still reports
figures (flagged ``short``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

__all__ = ["GOALS", "Sample", "latency_window", "summarize"]

GOALS: Final = {"rss_growth_pct": 10.0, "threads_growth": 2, "fds_growth": 10, "p99_s": 1.0}
WARMUP_S: Final = 120.0
MINUTE_SAMPLES: Final = 6  # samples every 10 s


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the load started
    rss_mib: float
    threads: int
    fds: int
    lag: int  # consumer lag of the trigger group, all partitions
    events: int  # events received in the window ending at ``t``
    p50_s: float | None
    p99_s: float | None
    max_s: float | None
    load: bool  # the load generator was running during this window
    cpu_pct: float = 0.0  # the process's CPU in the window (100 = one core); for the record, no goal
    loadavg: float = 0.0  # the machine's 1-minute load average (a shared machine shows here)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def latency_window(latencies: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(p50, p99, max) of one window's latencies (nearest rank); Nones for an empty window."""
    if not latencies:
        return None, None, None
    ordered = sorted(latencies)
    return (ordered[(len(ordered) - 1) // 2], ordered[int(0.99 * (len(ordered) - 1))], ordered[-1])


def _steady(samples: Sequence[Sample], warmup: float) -> tuple[list[Sample], bool]:
    """The samples after the warm-up; the second half of the run when that leaves less than a minute."""
    after = [s for s in samples if s.t >= warmup]
    if len(after) >= 2 * MINUTE_SAMPLES:
        return after, False
    return list(samples[len(samples) // 2:]), True


def summarize(samples: Sequence[Sample], warmup: float = WARMUP_S) -> dict[str, Any]:
    """The figures and, per goal, whether it holds; ``ok`` when all hold."""
    if len(samples) < 2:
        raise ValueError(f"need at least 2 samples, got {len(samples)}")
    steady, short = _steady(samples, warmup)
    head = min(MINUTE_SAMPLES, len(steady) // 2) or 1
    base = statistics.median(s.rss_mib for s in steady[:head])
    last = statistics.median(s.rss_mib for s in steady[-head:])
    growth = (last - base) / base * 100.0 if base > 0 else 0.0
    threads = [s.threads for s in steady]
    fds = [s.fds for s in steady]
    threads_growth = statistics.median(threads[-head:]) - statistics.median(threads[:head])
    fds_growth = statistics.median(fds[-head:]) - statistics.median(fds[:head])
    loaded = [s for s in samples if s.load]
    p99s = [s.p99_s for s in loaded if s.p99_s is not None]
    over = [s.t for s in loaded if s.p99_s is not None and s.p99_s > GOALS["p99_s"]]
    empty = [s.t for s in loaded if s.events == 0]
    figures: dict[str, Any] = {
        "short": short,
        "steady_from_s": steady[0].t,
        "rss_mib_start": round(base, 1),
        "rss_mib_end": round(last, 1),
        "rss_mib_max": round(max(s.rss_mib for s in steady), 1),
        "rss_growth_pct": round(growth, 2),
        "threads_min": min(threads), "threads_max": max(threads), "threads_spread": max(threads) - min(threads),
        "threads_growth": threads_growth,
        "fds_min": min(fds), "fds_max": max(fds), "fds_spread": max(fds) - min(fds), "fds_growth": fds_growth,
        "p99_s_max": round(max(p99s), 3) if p99s else None,
        "p99_windows_over_goal": over,
        "windows_without_deliveries": empty,
        "lag_max": max(s.lag for s in samples),
        "lag_end": samples[-1].lag,
    }
    goals = {
        "rss_growth": growth <= GOALS["rss_growth_pct"],
        "threads_flat": threads_growth <= GOALS["threads_growth"],
        "fds_flat": fds_growth <= GOALS["fds_growth"],
        "p99_latency": bool(p99s) and not over and not empty,
    }
    return {**figures, "goals": goals, "ok": all(goals.values())}
