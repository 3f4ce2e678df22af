"""The native events core's exactness tests at full size (``make test`` runs them reduced).

* ``tests/mapping/test_native_differential.py`` with 100,000 seeded triggers per job (``--triggers``): the core's
  event bodies byte-identical to the Python mapper's, the same counts and drop reasons.
* ``tests/mapping/test_native_phones.py`` with 1,000,000 generated numbers (``--phones``) across 30 regions,
  under both policies: every phone the core decides is decided as ``phonenumbers`` decides it.

Writes ``exactness`` (sizes, pass or fail, seconds) into the results; a failure fails ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import merge_results

ROOT = Path(__file__).resolve().parents[1]


def run(test: str, env: dict[str, str]) -> tuple[bool, float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                          cwd=ROOT, env={**os.environ, **env})
    return done.returncode == 0, round(time.monotonic() - start, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--triggers", type=int, default=100_000)
    ap.add_argument("--phones", type=int, default=1_000_000)
    ap.add_argument("--out")
    args = ap.parse_args()
    diff_ok, diff_s = run("tests/mapping/test_native_differential.py", {"TIKSTREAM_DIFF_N": str(args.triggers)})
    phones_ok, phones_s = run("tests/mapping/test_native_phones.py", {"TIKSTREAM_PHONE_N": str(args.phones)})
    merge_results(args.out, {"exactness": {
        "differential_triggers_per_job": args.triggers, "differential_identical": diff_ok, "differential_s": diff_s,
        "phone_numbers_per_policy": args.phones, "phones_agree": phones_ok, "phones_s": phones_s,
    }})  # fmt: skip
    if not (diff_ok and phones_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
