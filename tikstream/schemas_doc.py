"""The job reference, ``docs/jobs.md``, generated from ``schemas/job.schema.json``.

One section per job type with a table of its fields: type, required or default, constraints, meaning. A
field's meaning is the schema's ``description`` when the model gives one, otherwise the short text in
``NOTES`` (taken from docs/architecture.md §4). Regenerate with ``python -m tikstream.schemas_doc`` from the repository
root; ``--check`` exits 1 when the page is stale (``tests/test_deploy_files.py`` runs it). Everything from the
line ``MARKER`` on is written by hand (guides that a table cannot hold) and kept as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["NOTES", "SCHEMA", "TARGET", "main", "render"]

SCHEMA: Final = Path("schemas/job.schema.json")
TARGET: Final = Path("docs/jobs.md")
REGENERATE: Final = "python -m tikstream.schemas_doc"
MARKER: Final = "<!-- Written by hand from here on; python -m tikstream.schemas_doc keeps it. -->"

TYPE_TEXT: Final[Mapping[str, str]] = {
    "audience_export": "Keeps a TikTok Custom Audience (customer file) in step with one audience: users who "
    "enter are appended, users who exit are removed, in batches of hashed-ID files (docs/architecture.md §4.1). "
    "With `delivery: streaming`, a segment audience instead, through `/segment/mapping/` add and delete "
    "requests within seconds (see Streaming audiences below). Needs a "
    "`tiktok_signin` authorization. Examples: [`examples/audience-export.yaml`](../examples/audience-export.yaml), "
    "[`examples/audience-streaming.yaml`](../examples/audience-streaming.yaml).",
    "app_events": "Sends one Events API 2.0 app event per trigger (docs/architecture.md §4.2). Takes an `events_token` "
    "or `tiktok_signin`. Example: [`examples/app-events.yaml`](../examples/app-events.yaml).",
    "web_events": "Sends one Events API 2.0 web (pixel) event per trigger (docs/architecture.md §4.2). Takes an "
    "`events_token` or `tiktok_signin`. Example: [`examples/web-events.yaml`](../examples/web-events.yaml).",
    "offline_events": "Sends one Events API 2.0 offline event per trigger to an offline event set "
    "(docs/architecture.md §4.2). Takes an `offline_token` for the same event set, or `tiktok_signin`. Example: "
    "[`examples/offline-events.yaml`](../examples/offline-events.yaml).",
    "crm_events": "Sends one Events API 2.0 CRM event per trigger to a CRM event set, with the lead's id "
    "(`lead.lead_id`, from `lead_id_field`) and the CRM's name (`lead.lead_event_source`); a trigger without a "
    "lead id goes to the DLQ (docs/architecture.md §4.2). Takes an `events_token` scoped to the same event set "
    "(`event_set_id`), or `tiktok_signin`. Example: [`examples/crm-events.yaml`](../examples/crm-events.yaml).",
}

NOTES: Final[Mapping[str, str]] = {
    "type": "The job type; selects the rest of the fields.",
    "label": "A short human name, shown in listings.",
    "description": "Free text for operators.",
    "enabled": "False stops the job without deleting it; its triggers are not sent.",
    "audience": "The audience slug of the trigger records this job follows.",
    "audiences": "The audience slugs whose triggers become events.",
    "triggers": "Which trigger kinds become events: `enter`, `exit` or both.",
    "advertiser_id": "The TikTok advertiser that owns the audience (a string: ids exceed 2^53).",
    "identifiers": "Record path → TikTok identifier. Raw values are normalised and hashed as TikTok "
    "documents; values that already are a hash of the right kind pass through.",
    "properties": "Record path → TikTok `properties` field of each event.",
    "existing_users": "Also send the users already in the audience when the job was created (a backfill).",
    "audience_name_prefix": "The audience is named `{prefix} {audience} {UTC time of creation}`.",
    "retention_in_days": "How long TikTok keeps the audience; unset: TikTok's default.",
    "default_phone_region": "ISO country used for phone numbers written without a country code.",
    "flush_interval_seconds": "Send a batch at least this often.",
    "flush_max_bytes": "Start a new file before it would pass this size.",
    "flush_max_users": "Send a batch once it holds this many users.",
    "event_name": "A TikTok standard event name for the source (listed), or a custom name.",
    "event_time_field": "Record path of the event time (RFC 3339 or epoch); unset: the trigger's `ts`.",
    "test_event_code": "Events show under Events Manager > Test Events instead of counting.",
    "limited_data_use": "Sets TikTok's Limited Data Use flag on every event.",
    "batch_max_events": "Events per `/event/track/` request (TikTok takes at most 1,000).",
    "linger_ms": "How long to wait to fill a batch; a trigger reaches TikTok within about this.",
    "pixel_code": "The pixel, sent as `event_source_id`.",
    "page_url_field": "Record path of the page URL.",
    "page_referrer_field": "Record path of the referrer URL.",
    "app_id": "The TikTok App ID, sent as `event_source_id`.",
    "app_name": "The app's name, sent in `app.app_name`.",
    "app_version_field": "Record path of the app version, sent in `app.app_version`.",
    "store_app_id": "`app.app_id` of each event: the App Store id or the Google Play package name.",
    "event_set_id": "The offline event set, sent as `event_source_id`.",
}


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return node


def _non_null(node: Mapping[str, Any]) -> Mapping[str, Any]:
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    return options[0] if len(options) == 1 else node


def _is_path(node: Mapping[str, Any]) -> bool:
    return "user_id|audience|event|ts" in str(node.get("pattern", ""))


def _type(node: Mapping[str, Any]) -> str:
    node = _non_null(node)
    if _is_path(node):
        return "record path"
    if "patternProperties" in node and "properties" in node:
        return "map: TikTok field → source, or record path → TikTok field"
    if "patternProperties" in node:
        return "map: record path → string"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object":
        return "map"
    return str(kind)


def _constraints(node: Mapping[str, Any]) -> str:
    node = _non_null(node)
    if _is_path(node):
        return ""
    parts: list[str] = []
    for key, text in (("minimum", "≥ {}"), ("maximum", "≤ {}"), ("minLength", "length ≥ {}"),
                      ("maxLength", "length ≤ {}"), ("minItems", "≥ {} items"), ("maxItems", "≤ {} items"),
                      ("minProperties", "≥ {} entries")):
        if key in node:
            parts.append(text.format(f"{node[key]:,}" if isinstance(node[key], int) else node[key]))
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    values = _values(node)
    if values:
        parts.append("one of " + ", ".join(f"`{v}`" for v in values))
    if "examples" in node:
        parts.append("standard names: " + ", ".join(f"`{v}`" for v in node["examples"]))
    return "; ".join(parts)


def _values(node: Mapping[str, Any]) -> list[str]:
    if "enum" in node:
        return [str(v) for v in node["enum"]]
    items = node.get("items")
    if isinstance(items, Mapping) and "enum" in items:
        return [str(v) for v in items["enum"]]
    targets = list(node.get("patternProperties", {}).values())
    if targets and "enum" in targets[0]:
        return [str(v) for v in targets[0]["enum"]]
    return []


def _presence(name: str, node: Mapping[str, Any], required: Sequence[str]) -> str:
    if name in required:
        return "**required**"
    if "default" in node and node["default"] is not None:
        return f"default `{json.dumps(node['default'])}`"
    return "optional"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(schema: Mapping[str, Any], job_type: str, model: Mapping[str, Any]) -> list[str]:
    required = list(model.get("required", []))
    props: Mapping[str, Mapping[str, Any]] = model.get("properties", {})
    order = [*required, *(n for n in props if n not in required)]
    lines = [f"## `{job_type}`", "", TYPE_TEXT.get(job_type, str(model.get("description", ""))), "",
             "| field | type | presence | constraints | meaning |", "|---|---|---|---|---|"]
    for name in order:
        node = props[name]
        meaning = node.get("description") or NOTES.get(name) or _non_null(node).get("description") or ""
        lines.append("| " + " | ".join(_cell(c) for c in (
            f"`{name}`", _type(node), _presence(name, node, required), _constraints(node), str(meaning),
        )) + " |")  # fmt: skip
    return [*lines, ""]


def render(schema: Mapping[str, Any]) -> str:
    """The Markdown page for a job schema (a ``oneOf`` discriminated on ``type``)."""
    found: Mapping[str, str] = schema.get("discriminator", {}).get("mapping", {})
    mapping = {t: found[t] for t in [*(t for t in TYPE_TEXT if t in found), *sorted(set(found) - set(TYPE_TEXT))]}
    lines = [
        "# Job reference",
        "",
        f"The tables are generated from `{SCHEMA}` by `{REGENERATE}`; do not edit them (the guides after "
        "them are written by hand). A job is one JSON or YAML document "
        "(`tikstream jobs validate -f FILE` checks it field by field; `tikstream jobs apply -f FILE` publishes "
        "it to the config topic, keyed by `id`). Unknown fields are rejected. Record paths are dotted paths "
        "from the trigger record's root: `user.email`, `user.address.city`, `user_id`, `ts`.",
        "",
        "Job types: " + ", ".join(f"[`{t}`](#{t})" for t in mapping),
        "",
    ]
    for job_type, ref in mapping.items():
        lines += _section(schema, job_type, _resolve(schema, {"$ref": ref}))
    return "\n".join(lines).rstrip() + "\n"


def _hand_written(target: Path) -> str:
    """The hand-written end of the page (from ``MARKER`` on), or ""."""
    existing = target.read_text(encoding="utf-8") if target.is_file() else ""
    start = existing.find(MARKER)
    return "\n" + existing[start:] if start >= 0 else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/jobs.md is stale; write nothing")
    args = parser.parse_args(argv)
    target = args.root / TARGET
    text = render(json.loads((args.root / SCHEMA).read_text(encoding="utf-8"))) + _hand_written(target)
    if args.check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{TARGET} is stale; run `{REGENERATE}`\n")
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
