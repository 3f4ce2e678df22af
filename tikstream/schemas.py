"""JSON Schemas generated from the models: ``schemas/trigger.schema.json`` and ``schemas/job.schema.json``.

The files are committed so editors and other producers can use them; ``tests/test_schemas.py`` fails
when they drift from the code. Regenerate with ``python -m tikstream.schemas`` (from the repository root),
or check without writing with ``python -m tikstream.schemas --check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from tikstream.jobs.models import JOB_ADAPTER
from tikstream.records import TriggerModel

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
REGENERATE: Final = "python -m tikstream.schemas"


def _close_pattern_maps(node: object) -> None:
    """Maps keyed by a pattern (record path → field) accept no other keys, as in the models."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_maps(value)


def _document(schema: dict[str, Any], title: str, description: str) -> str:
    _close_pattern_maps(schema)
    schema = {"$schema": SCHEMA_DIALECT, **schema, "title": title, "description": description}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name (relative to the repository root) → its text."""
    return {
        "schemas/trigger.schema.json": _document(
            TriggerModel.model_json_schema(),
            "tikstream trigger record",
            "The value of a record on the trigger topics (docs/architecture.md §3). Generated from "
            f"tikstream.records.TriggerModel by `{REGENERATE}`; do not edit.",
        ),
        "schemas/job.schema.json": _document(
            JOB_ADAPTER.json_schema(),
            "tikstream job",
            "One job config, the value of a record on the config topic (docs/architecture.md §4). Generated from "
            f"tikstream.jobs.models by `{REGENERATE}`; do not edit.",
        ),
    }


def stale(root: Path) -> list[str]:
    """The generated files under ``root`` that are missing or differ from ``generate()``."""
    out = []
    for name, text in generate().items():
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tikstream.schemas", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.root)
        for name in bad:
            sys.stderr.write(f"{name} is stale; run `{REGENERATE}`\n")
        return 1 if bad else 0
    for name, text in generate().items():
        path = args.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
