"""The readable form of a ``jobs preview`` report: per trigger what was sent or left out, then the requests."""

from __future__ import annotations

import orjson

from tikstream.preview import Report

_CODES = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1"}


def render(report: Report, *, color: bool) -> str:
    def paint(text: str, style: str) -> str:
        return f"\x1b[{_CODES[style]}m{text}\x1b[0m" if color else text

    lines = [paint(f"job {report.job_id} ({report.kind})", "bold")]
    lines += [paint(f"  {note}", "dim") for note in report.notes]
    routed = sum(t.routed for t in report.triggers)
    lines.append(f"{len(report.triggers)} trigger(s), {routed} routed, {len(report.requests)} request(s)")
    for t in report.triggers:
        mark = paint("routed", "green") if t.routed else paint("not routed", "yellow")
        lines.append(f"  [{t.offset_or_line}] {mark}")
        for d in t.dropped:
            lines.append(f"      {paint('left out', 'red' if t.routed else 'yellow')} {d.field}: {d.reason}")
        for note in t.notes:
            lines.append(f"      {paint('derived', 'dim')} {note}")
    for i, r in enumerate(report.requests, start=1):
        lines.append(paint(f"request {i}: {r.method} {r.path}", "bold"))
        lines.append(orjson.dumps(r.body, option=orjson.OPT_INDENT_2).decode())
    return "\n".join(lines) + "\n"
