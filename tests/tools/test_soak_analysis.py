"""The soak's verdict (tools/soak/analysis.py) and its plot (tools/soak/plot.py), on made-up samples."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "soak"))
from analysis import Sample, latency_window, summarize
from plot import svg


def run(minutes: float = 20, rss: float = 100.0, rss_slope: float = 0.0, threads: int = 30, thread_leak: int = 0,
        fds: int = 40, fd_leak: int = 0, p99: float = 0.4, slow_at: float | None = None,
        stall_at: float | None = None) -> list[Sample]:
    """Samples every 10 s; ``*_slope``/``*_leak`` add that much per minute after the first."""
    out = []
    for i in range(1, int(minutes * 6) + 1):
        t = i * 10.0
        m = max(0.0, t / 60 - 1)
        late = p99 * 4 if slow_at is not None and t == slow_at else p99
        events = 0 if stall_at is not None and t == stall_at else 1000
        out.append(Sample(t, rss + rss_slope * m, threads + int(thread_leak * m), fds + int(fd_leak * m), 5,
                          events, p99 / 3, late if events else None, late if events else None, True))
    return out


@pytest.mark.parametrize(("samples", "failed"), [
    pytest.param(run(), set(), id="steady"),
    pytest.param(run(rss_slope=0.5), set(), id="rss-grows-9pct"),
    pytest.param(run(rss_slope=1.0), {"rss_growth"}, id="rss-grows-18pct"),
    pytest.param(run(thread_leak=1), {"threads_flat"}, id="thread-leak"),
    pytest.param(run(fd_leak=2), {"fds_flat"}, id="fd-leak"),
    pytest.param(run(p99=0.3, slow_at=600.0), {"p99_latency"}, id="one-slow-window"),
    pytest.param(run(stall_at=600.0), {"p99_latency"}, id="a-window-without-deliveries"),
])
def test_goals(samples: list[Sample], failed: set[str]) -> None:
    summary = summarize(samples)
    assert {name for name, ok in summary["goals"].items() if not ok} == failed
    assert summary["ok"] == (not failed)
    assert summary["short"] is False and summary["steady_from_s"] == 120.0


def test_a_short_spike_of_threads_and_descriptors_is_not_growth() -> None:
    samples = run()
    spike = samples[60]
    samples[60] = Sample(spike.t, spike.rss_mib, spike.threads + 15, spike.fds + 24, 5, 1000, 0.1, 0.4, 0.4, True)
    summary = summarize(samples)
    assert summary["goals"]["threads_flat"] and summary["goals"]["fds_flat"]
    assert summary["threads_spread"] == 15 and summary["fds_spread"] == 24  # reported all the same


def test_growth_is_measured_from_the_end_of_the_warm_up() -> None:
    warm = [Sample(t * 10.0, 50.0 + t * 5, 30, 40, 0, 100, 0.1, 0.2, 0.3, True) for t in range(1, 12)]
    steady = run(rss=110.0)
    steady = [s for s in steady if s.t >= 120]
    summary = summarize(warm + steady)  # RSS climbs from 55 to 105 MiB in the warm-up: not growth
    assert summary["rss_mib_start"] == 110.0 and summary["rss_growth_pct"] == 0.0 and summary["ok"]


def test_growth_compares_medians_of_a_minute() -> None:
    samples = run(rss=100.0)
    samples[-1] = Sample(samples[-1].t, 500.0, 30, 40, 0, 100, 0.1, 0.2, 0.3, True)  # one swing at the end
    assert summarize(samples)["rss_growth_pct"] == 0.0
    assert summarize(samples)["rss_mib_max"] == 500.0


def test_a_short_run_is_judged_on_its_second_half() -> None:
    summary = summarize(run(minutes=2, rss_slope=60.0))
    assert summary["short"] is True and summary["steady_from_s"] == 70.0
    assert summary["rss_growth_pct"] > 0


def test_windows_after_the_load_do_not_count_for_latency() -> None:
    samples = run(minutes=3)
    samples.append(Sample(190.0, 100.0, 30, 40, 0, 0, None, None, None, False))
    assert summarize(samples)["goals"]["p99_latency"]


def test_too_few_samples() -> None:
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        summarize(run(minutes=1 / 6))


def test_latency_window() -> None:
    assert latency_window([]) == (None, None, None)
    p50, p99, worst = latency_window([i / 100 for i in range(200, 0, -1)])
    assert (p50, p99, worst) == (1.0, 1.98, 2.0)


def test_plot_is_svg_with_one_line_per_series_and_the_latency_goal() -> None:
    doc = ET.fromstring(svg(run(minutes=3), "soak <test>"))
    ns = "{http://www.w3.org/2000/svg}"
    assert doc.tag == f"{ns}svg"
    assert len(doc.findall(f"{ns}polyline")) == 5
    assert len(doc.findall(f"{ns}line")) == 1  # the 1 s goal of the latency panel
    texts = [t.text for t in doc.findall(f"{ns}text")]
    assert "soak <test>" in texts and "RSS (MiB)" in texts and "3 min" in texts
