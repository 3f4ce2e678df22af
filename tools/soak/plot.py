"""A small SVG of the soak's series (plain SVG text, no plotting library): one panel per series, time in
minutes along the bottom, the goal drawn as a dashed line where there is one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from analysis import GOALS, Sample

__all__ = ["svg"]

WIDTH, PANEL_H, LEFT, RIGHT, TOP, GAP = 760, 96, 70, 20, 34, 26

Series = tuple[str, Callable[[Sample], float | None], float | None, str]

SERIES: tuple[Series, ...] = (
    ("RSS (MiB)", lambda s: s.rss_mib, None, "#1f77b4"),
    ("threads", lambda s: float(s.threads), None, "#2ca02c"),
    ("open file descriptors", lambda s: float(s.fds), None, "#9467bd"),
    ("consumer lag (records)", lambda s: float(s.lag), None, "#ff7f0e"),
    ("delivery latency p99 (s)", lambda s: s.p99_s, GOALS["p99_s"], "#d62728"),
)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"


def _panel(samples: Sequence[Sample], index: int, series: Series, t_max: float) -> list[str]:
    title, get, goal, colour = series
    top = TOP + index * (PANEL_H + GAP)
    inner_w = WIDTH - LEFT - RIGHT
    points = [(s.t, v) for s in samples if (v := get(s)) is not None]
    values = [v for _, v in points] + ([goal] if goal is not None else [])
    lo = min([0.0, *values])
    hi = max([*values, lo + 1.0])
    hi = hi * 1.05 if hi > 0 else 1.0

    def x(t: float) -> float:
        return LEFT + inner_w * (t / t_max if t_max > 0 else 0.0)

    def y(v: float) -> float:
        return top + PANEL_H - PANEL_H * (v - lo) / (hi - lo)

    out = [f'<text x="{LEFT}" y="{top - 6}" class="t">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{top}" width="{inner_w}" height="{PANEL_H}" class="frame"/>',
           f'<text x="{LEFT - 6}" y="{top + 10}" class="a" text-anchor="end">{_fmt(hi)}</text>',
           f'<text x="{LEFT - 6}" y="{top + PANEL_H}" class="a" text-anchor="end">{_fmt(lo)}</text>']
    if goal is not None:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(goal):.1f}" y2="{y(goal):.1f}" class="goal"/>')
        out.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y(goal) - 3:.1f}" class="a" text-anchor="end">goal</text>')
    if points:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    return out


def svg(samples: Sequence[Sample], title: str) -> str:
    """The SVG document of ``samples`` (at least one)."""
    t_max = max(s.t for s in samples)
    height = TOP + len(SERIES) * (PANEL_H + GAP) + 10
    body: list[str] = []
    for i, series in enumerate(SERIES):
        body += _panel(samples, i, series, t_max)
    axis_y = TOP + len(SERIES) * (PANEL_H + GAP) - GAP + 14
    minutes = int(t_max // 60)
    step = max(1, minutes // 10)
    for m in range(0, minutes + 1, step):
        xpos = LEFT + (WIDTH - LEFT - RIGHT) * (m * 60 / t_max if t_max > 0 else 0)
        body.append(f'<text x="{xpos:.1f}" y="{axis_y}" class="a" text-anchor="middle">{m} min</text>')
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
        "<style>.t{font-size:12px;font-weight:bold}.a{font-size:10px;fill:#555}"
        ".frame{fill:none;stroke:#bbb}.goal{stroke:#d62728;stroke-dasharray:4 3}</style>",
        f'<text x="{LEFT}" y="16" class="t">{escape(title)}</text>',
        *body,
        "</svg>",
        "",
    ])
