"""The ``tikstream`` command line (docs/architecture.md §8). Reads ``Settings`` once and passes plain values down.

Exit codes: 0 success; 1 the input is wrong (an invalid job, an unknown job, a rejected token, a demo whose
numbers do not add up); 2 the environment is wrong (Kafka unreachable, authorization file missing or
invalid, a service that does not answer); 130 interrupted. Every error is one line on stderr, ``error: ...``.

Modules: ``main`` (parser, dispatch), one per command group (``run``, ``jobs``, ``auth``, ``dlq``, ``demo``;
``tikstream emulator`` is ``tikstream.emulator.cli``), and ``common`` (settings, Kafka check, tables).
"""

from tikstream.cli.main import build_parser, main
from tikstream.cli.run import GC_THRESHOLDS, tune_gc

__all__ = ["GC_THRESHOLDS", "build_parser", "main", "tune_gc"]
