"""Turn a pydantic ``ValidationError`` into ``FieldError``s: dotted paths and plain-English messages.

By default input values are never copied into a message (an authorization file's fields are secrets), only the
location, what was expected and, for unknown fields, the closest known name. Job configs hold no secret: with
``show_values`` a value that is not one of the allowed ones, or does not match a pattern, is named, with the
closest allowed value when there is one (``'e.164' is not one of 'valid', 'possible' or 'e164'; did you mean
'e164'?``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from tikstream.errors import FieldError

KnownFields = Callable[[tuple[str, ...]], Collection[str]]
"""Given the path of the object holding an unknown field, the field names that object accepts."""

_PREFIXES = (
    ("Value error, ", ""),
    ("Input should ", "must "),
    ("String should ", "must "),
    ("Value should ", "must "),
    ("List should ", "must "),
    ("Tuple should ", "must "),
    ("Dictionary should ", "must "),
)

_JSON_WORDS = (
    (" after validation", ""),
    ("a valid tuple", "a list"),
    ("a valid list", "a list"),
    ("a valid dictionary", "an object"),
)


def field_errors(
    exc: ValidationError,
    *,
    patterns: Mapping[str, str],
    tag_at: int | None = None,
    tags: Collection[str] = (),
    known_fields: KnownFields | None = None,
    show_values: bool = False,
) -> list[FieldError]:
    """Every error of ``exc``, in order.

    ``patterns`` words regexes for humans; ``tag_at`` is the position in ``loc`` where pydantic puts the tag
    of a discriminated union (dropped from paths); ``tags`` are the discriminator's values, named when it is
    missing or unknown.
    """
    out: list[FieldError] = []
    details = exc.errors(include_url=False, include_input=show_values)
    for err in details:
        loc = tuple(str(part) for part in err["loc"] if part != "[key]")
        if tag_at is not None and len(loc) > tag_at and not err["type"].startswith("union_tag_"):
            loc = loc[:tag_at] + loc[tag_at + 1 :]
        named = _named(err) if show_values else None
        out.append(FieldError(".".join(loc), named) if named else _one(err, loc, patterns, tags, known_fields))
    # A list whose items all failed is also "too short": say only what is wrong with the items.
    too_short = {out[i].path for i, err in enumerate(details) if err["type"] == "too_short"}
    has_items = {p for p in too_short if any(e.path.startswith(p + ".") for e in out)}
    return [e for i, e in enumerate(out) if not (details[i]["type"] == "too_short" and e.path in has_items)]


def _one(
    err: ErrorDetails,
    loc: tuple[str, ...],
    patterns: Mapping[str, str],
    tags: Collection[str],
    known: KnownFields | None,
) -> FieldError:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    path = ".".join(loc)
    if kind == "missing":
        return FieldError(path, "is required")
    if kind == "extra_forbidden":
        return FieldError(path, _unknown(loc, known))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = str(ctx.get("discriminator", "type")).strip("'")
        expected = ", ".join(repr(t) for t in tags) or str(ctx.get("expected_tags", ""))
        what = "is required" if kind == "union_tag_not_found" else "is not a known value"
        return FieldError(".".join((*loc, tag)), f"{what}; expected one of {expected}")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return FieldError(path, "must be " + patterns.get(pattern, f"a string matching {pattern}"))
    return FieldError(path, _humane(err["msg"]))


def _named(err: ErrorDetails) -> str | None:
    """The message naming the offending value, for a value outside a list of literals or not matching a
    pattern; None for other errors (their messages stay as pydantic words them)."""
    value = err.get("input")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    ctx = err.get("ctx") or {}
    if err["type"] == "literal_error":
        expected = str(ctx.get("expected", ""))
        close = difflib.get_close_matches(str(value), re.findall(r"'([^']*)'", expected), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{shown} is not one of {expected}{hint}"
    return None


def _unknown(loc: tuple[str, ...], known: KnownFields | None) -> str:
    if not loc or known is None:
        return "unknown field"
    close = difflib.get_close_matches(loc[-1], sorted(known(loc[:-1])), n=1)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"


def _humane(msg: str) -> str:
    for prefix, repl in _PREFIXES:
        if msg.startswith(prefix):
            msg = repl + msg[len(prefix) :]
            break
    for word, plain in _JSON_WORDS:
        msg = msg.replace(word, plain)
    if len(msg) > 1 and msg[0].isupper() and msg[1].islower():
        msg = msg[0].lower() + msg[1:]
    return msg
