"""Where the time after the load goes in a chaos run: a profile written beside the instance logs.

- a timeline, one point per verifier poll: seconds after the load, web events still missing, audience members
  still wrong (expected but absent, or present but not expected);
- per TikTok path of the emulator's request log: requests and outcomes after the load, and when the last came;
- the audience's operations after the load (action, when, members added or removed);
- rebalances seen in the instance logs after the load (trigger group and audience writers group).

``summary`` keeps the headline figures (when the web events and the audience each converged, when the last
request of each path came) for ``bench/results/chaos.json``; the whole profile goes to ``profile.json``.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ ([\w.]+): (.*)$")
_REBALANCE = ("partitions assigned", "partitions revoked", "partitions lost", "audience writer partitions")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return orjson.loads(r.read())


class Timeline:
    """Convergence points: ``(seconds after the load, web events missing, audience members wrong)``."""

    def __init__(self) -> None:
        self.points: list[tuple[float, int, int]] = []

    def add(self, seconds: float, web_missing: int, members_wrong: int) -> None:
        self.points.append((round(seconds, 1), web_missing, members_wrong))

    def converged(self, index: int) -> float | None:
        """When column ``index`` (1: web, 2: audience) reached 0 and stayed there; None if it never did."""
        at = None
        for point in self.points:
            at = (point[0] if at is None else at) if point[index] == 0 else None
        return at


def _log_events(paths: Iterable[Path], since_wall: float) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            m = _LOG_LINE.match(line)
            if m is None or not any(k in m.group(4) for k in _REBALANCE):
                continue
            wall = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            if wall >= since_wall - 15:
                out.append({"instance": path.stem, "t": round(wall - since_wall, 2), "what": m.group(4)[:160]})
    return sorted(out, key=lambda e: e["t"])


def profile(admin: str, load_end_wall: float, work: Path, timeline: Timeline) -> dict[str, Any]:
    """The whole profile (``admin`` is the emulator's ``/_emulator/`` URL prefix)."""
    requests = _get(admin + "requests")["requests"]
    paths: dict[str, dict[str, Any]] = {}
    for r in requests:
        entry = paths.setdefault(r["path"], {"before_load_end": 0, "after_load_end": 0, "outcomes_after": {},
                                             "last_after_s": None})
        t = r["received_at"] - load_end_wall
        if t < 0:
            entry["before_load_end"] += 1
            continue
        entry["after_load_end"] += 1
        outcome = "ok" if r["http_status"] == 200 and r["code"] == 0 else f"{r['http_status']}/{r['code']}"
        entry["outcomes_after"][outcome] = entry["outcomes_after"].get(outcome, 0) + 1
        entry["last_after_s"] = round(t, 1)
    state = _get(admin + "state")
    ops = [{"t": round(op["at"] - load_end_wall, 1), "action": op["action"], "files": len(op["file_paths"]),
            "added": op["added"], "removed": op["removed"]}
           for a in state["audiences"] for op in a["history"] if op["at"] >= load_end_wall - 10]
    return {
        "web_events_converged_s": timeline.converged(1),
        "audience_converged_s": timeline.converged(2),
        "timeline": timeline.points,
        "requests_by_path": paths,
        "audience_ops_near_end": ops,
        "rebalances_after_load": _log_events(sorted(work.glob("instance-*.log")), load_end_wall),
    }


def summary(full: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a profile."""
    last = {path.rsplit("/v1.3/", 1)[-1]: p["last_after_s"] for path, p in full["requests_by_path"].items()
            if p["last_after_s"] is not None}
    return {"web_events_converged_s": full["web_events_converged_s"],
            "audience_converged_s": full["audience_converged_s"], "last_request_after_load_s": last}
