"""Turn a pydantic ``ValidationError`` into ``FieldError``s: dotted paths and plain-English messages.

By default input values are never copied into a message (an authorization file's fields are secrets), only the
location, what was expected and, for unknown fields, the closest known name. Job configs hold no secret: with
``show_values`` a value that is not one of the allowed ones, or does not match a pattern, is named, with the
closest allowed value when there is one (``'e.164' is not one of 'valid', 'possible' or 'e164'; did you mean
'e164'?``); other errors end with the value (``must be less than or equal to 1000, not 5000``). The
discriminator of a union (a job's ``type``, an authorization's ``kind``) is named in every case.
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
        named = _named(err, patterns) if show_values else None
        if named is None and err["type"] == "union_tag_invalid":
            named = _unknown_tag(err, tags, show_values)
        if named is not None:
            out.append(FieldError(".".join(_tag_loc(err, loc)), named))
        else:
            out.append(_one(err, loc, patterns, tags, known_fields))
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


#: Errors whose input is not the offending value (a missing field has none; an unknown one is named by its path).
_UNNAMED = frozenset({"missing", "extra_forbidden", "union_tag_not_found", "union_tag_invalid", "mapping"})


def _named(err: ErrorDetails, patterns: Mapping[str, str]) -> str | None:
    """The message naming the offending value, with the valid value it probably meant when one is close
    (``'emial' is not one of ...; did you mean 'email'?``, ``must be ..., not 5000``); None for errors without
    a scalar input."""
    value = err.get("input")
    if err["type"] in _UNNAMED or not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    shown = _shown(value)
    ctx = err.get("ctx") or {}
    if err["type"] == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        return f"{shown} is not one of {expected}{_hint(str(value), choices)}"
    if err["type"] == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        words = patterns.get(pattern, f"a string matching {pattern}")
        fixed = [v for v in (str(value).upper(), str(value).lower(), str(value).strip()) if re.fullmatch(pattern, v)]
        hint = f"; did you mean {fixed[0]!r}?" if fixed else ""
        return f"must be {words}, not {shown}{hint}"
    message = _humane(err["msg"])
    return message if shown in message else f"{message}, not {shown}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(value: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``value`` (case aside), or ``""``."""
    folded = {c.lower(): c for c in choices}
    starting = [c for c in folded if value and c.startswith(value.lower())]
    close = starting[:1] if len(starting) == 1 else difflib.get_close_matches(value.lower(), list(folded), n=1)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def _tag_loc(err: ErrorDetails, loc: tuple[str, ...]) -> tuple[str, ...]:
    if err["type"] != "union_tag_invalid":
        return loc
    return (*loc, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'"))


def _unknown_tag(err: ErrorDetails, tags: Collection[str], show_value: bool) -> str | None:
    """``'web_event' is not a known type; ...; did you mean 'web_events'?`` for the discriminator of a union (a
    job's ``type``, an authorization's ``kind``); without ``show_value`` the value itself is not repeated (a
    token pasted into the wrong field must not end up in a log), only the close valid value."""
    ctx = err.get("ctx") or {}
    tag, name = ctx.get("tag"), str(ctx.get("discriminator", "type")).strip("'")
    if not isinstance(tag, str) or not tags:
        return None
    expected = ", ".join(repr(t) for t in tags)
    what = f"{_shown(tag)} is not a known {name}" if show_value else "is not a known value"
    return f"{what}; expected one of {expected}{_hint(tag, list(tags))}"


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
