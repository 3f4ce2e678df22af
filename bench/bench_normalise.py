"""Throughput of identifier normalisation (``tikstream.mapping.normalise``) on one core.

Run: ``python bench/bench_normalise.py [--seconds S] [--out bench/results/latest.json]``. Prints one JSON
object with values per second for each case; ``--out`` merges it into that file under the key ``normalise``.
Each case resolves its function once with ``event_normaliser``, as a compiled job mapping does.

Phones go through ``phonenumbers`` (pure Python, tens of µs a number) behind an LRU cache: the ``_uncached``
cases clear the cache before every pass (every value a miss), the others repeat a pool that fits in it (the
same users come back in trigger after trigger).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tikstream.mapping import normalise
from tikstream.mapping.normalise import Normaliser, audience_normaliser, event_normaliser, sha256_hex

POOL = 10_000


def rate(
    fn: Normaliser, values: list[Any], seconds: float, before_pass: Callable[[], object] | None = None, repeat: int = 5
) -> float:
    """Best of ``repeat`` runs of ``seconds / repeat`` each: the least disturbed by other processes."""
    best = 0.0
    for _ in range(repeat):
        done, busy = 0, 0.0
        while busy < seconds / repeat:
            if before_pass is not None:
                before_pass()
            start = time.perf_counter()
            for v in values:
                fn(v)
            busy += time.perf_counter() - start
            done += len(values)
        best = max(best, done / busy)
    return best


def pin_one_core() -> bool:
    if not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return True


def cases() -> dict[str, tuple[Normaliser, list[Any], Callable[[], object] | None]]:
    clear = normalise._e164.cache_clear  # the phone LRU (private: benchmarks only)
    emails = [f" User{i}@Example.com " for i in range(POOL)]
    e164 = [f"+1 (213) {200 + i // 10_000 % 700:03d}-{i % 10_000:04d}" for i in range(POOL)]
    national = [p.removeprefix("+1 ") for p in e164]
    return {
        "email": (event_normaliser("email"), emails, None),
        "email_prehashed": (event_normaliser("email"), [sha256_hex(e).upper() for e in emails], None),
        "phone_e164": (event_normaliser("phone"), e164, None),
        "phone_e164_uncached": (event_normaliser("phone"), e164, clear),
        "phone_national_us": (event_normaliser("phone", "US"), national, None),
        "phone_national_us_uncached": (event_normaliser("phone", "US"), national, clear),
        "external_id": (event_normaliser("external_id"), [f"user-{i:08d}" for i in range(POOL)], None),
        "audience_email": (audience_normaliser("EMAIL_SHA256"), emails, None),
        "audience_phone": (audience_normaliser("PHONE_SHA256"), e164, None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per case")
    parser.add_argument("--out", type=Path, help="JSON file to merge the results into, under 'normalise'")
    args = parser.parse_args(argv)
    result: dict[str, object] = {
        "python": sys.version.split()[0],
        "pinned_to_one_core": pin_one_core(),
        "phone_cache_size": normalise.PHONE_CACHE_SIZE,
        "pool": POOL,
    }
    for name, (fn, values, before_pass) in cases().items():
        assert all(fn(v)[0] is not None for v in values), name  # every sample is a valid value
        result[f"values_per_s.{name}"] = round(rate(fn, values, args.seconds, before_pass))
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.out:
        current = json.loads(args.out.read_text()) if args.out.exists() else {}
        current["normalise"] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
