"""The short chaos run (`tools/chaos/run.py --short`) in `make test`: two instances under load, SIGKILLed
and restarted, TikTok throttling 20 % and failing 5 %; the verifier must find nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def test_short_chaos_run_loses_nothing() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "chaos" / "run.py"), "--short"],
                         capture_output=True, text=True, timeout=600)
    out = run.stdout
    assert run.returncode == 0, (f"chaos run exited {run.returncode}\n--- stdout (tail) ---\n{out[-3000:]}"
                                 f"\n--- stderr (tail) ---\n{run.stderr[-3000:]}")
    start = out.find("{\n")
    assert start >= 0, f"no figures in the chaos run's output:\n{out[-3000:]}"
    figures = orjson.loads(out[start:out.index("\n}", start) + 2])
    assert figures["web_events_missing"] == 0
    assert figures["max_event_ids_per_trigger"] == 1
    assert figures["audiences_for_job"] == 1 and figures["audience_exact"]
    assert figures["dlq_records"] == 0
    assert figures["kills"] >= 2
