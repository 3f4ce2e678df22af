"""The ``identifiers`` and ``properties`` maps of events jobs: where each TikTok field's value comes from.

Each entry of a map is one of two shapes, told apart by its key (record paths and TikTok field names never
overlap, docs/architecture.md §3):

* ``"<record path>": "<TikTok field>"``, the original shape: the field takes the value at the path;
* ``"<TikTok field>": <source>``, where a source is
  - ``"<record path>"``: the value at the path;
  - ``{"const": <value>}``: the same value on every event;
  - ``{"path": "<record path>", "default": <value>}``: the value at the path, else the default;
  - ``{"derive": "count" | "sum_quantity" | "sum_price_quantity"}`` (``num_items``, ``value``): computed from the
    event's ``contents``, with an optional ``default``;
  - ``{"url_param": "<name>"}`` (web jobs): the query parameter of the page URL (``page_url_field``), optionally
    with a ``path`` (used when the URL has no such parameter) and a ``default``.

Each TikTok field is filled from one entry; one record path may feed several fields. ``validate_map`` checks a
map and names every offending value; ``entries`` reads a valid map as ``(target, Source)`` pairs, in its order.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from tikstream.jobs.fields import PATH_MAX_LENGTH, PATTERN_DESCRIPTIONS
from tikstream.jobs.targets import DERIVATIONS, Kind, shown
from tikstream.records import PATH_PATTERN

__all__ = [
    "SOURCE_KEYS", "URL_PARAM_PATTERN", "Source", "entries", "is_path", "map_schema", "schema_defs", "validate_map",
]

URL_PARAM_PATTERN: Final = r"^[A-Za-z0-9_.~-]{1,64}$"
SOURCE_KEYS: Final = ("path", "const", "default", "derive", "url_param")
_PATH = re.compile(PATH_PATTERN[1:-1]).fullmatch
_URL_PARAM = re.compile(URL_PARAM_PATTERN[1:-1]).fullmatch
_PATH_WORDS: Final = PATTERN_DESCRIPTIONS[PATH_PATTERN]


@dataclass(frozen=True, slots=True)
class Source:
    """Where one TikTok field's value comes from; ``has_const`` tells a constant from no constant."""

    path: str | None = None
    const: object = None
    has_const: bool = False
    default: object = None
    derive: str | None = None
    url_param: str | None = None

    @property
    def kind(self) -> str:
        """``const``, ``derive``, ``url_param`` or ``path``: what produces the value (for previews)."""
        if self.has_const:
            return "const"
        if self.derive is not None:
            return "derive"
        return "url_param" if self.url_param is not None else "path"


def is_path(text: object) -> bool:
    """Whether ``text`` is a record path (docs/architecture.md §3)."""
    return type(text) is str and len(text) <= PATH_MAX_LENGTH and _PATH(text) is not None


def entries(mapping: Mapping[str, Any]) -> tuple[tuple[str, Source], ...]:
    """A valid map (``validate_map`` passed) as ``(target, Source)`` pairs, in the map's order."""
    out: list[tuple[str, Source]] = []
    for key, value in mapping.items():
        if is_path(key):
            out.append((value, Source(path=key)))
        elif type(value) is str:
            out.append((key, Source(path=value)))
        else:
            out.append((key, Source(
                path=value.get("path"), const=value.get("const"), has_const="const" in value,
                default=value.get("default"), derive=value.get("derive"), url_param=value.get("url_param"),
            )))  # fmt: skip
    return tuple(out)


def _near(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _listing(values: list[str]) -> str:
    return ", ".join(repr(v) for v in values)


class _Errors:
    def __init__(self, field: str) -> None:
        self.field = field
        self.found: list[InitErrorDetails] = []

    def add(self, loc: tuple[str, ...], message: str, value: object) -> None:
        error = PydanticCustomError("mapping", "{message}", {"message": message})
        self.found.append(InitErrorDetails(type=error, loc=loc, input=value))


def validate_map(value: object, *, what: str, targets: Mapping[str, Kind], min_entries: int = 0,
                 url_params: bool = False) -> dict[str, Any]:
    """``value`` itself when it is a valid map of ``targets`` (``what`` names them in messages: "a TikTok
    user field for web events"); else a ``ValidationError`` naming every offending key and value."""
    if type(value) is not dict:
        raise ValidationError.from_exception_data("mapping", [InitErrorDetails(
            type=PydanticCustomError("mapping", "must be an object"), loc=(), input=value)])
    errors = _Errors(what)
    names = list(targets)
    filled: dict[str, list[str]] = {}
    for key, entry in value.items():
        if is_path(key):
            if type(entry) is not str or entry not in targets:
                errors.add((key,), _not_a_target(entry, what, names), entry)
            else:
                filled.setdefault(entry, []).append(key)
        elif key in targets:
            _check_source(errors, key, entry, targets, url_params)
            filled.setdefault(key, []).append(f"its own entry {key!r}")
        else:
            errors.add((key,), _unknown_key(key, what, names), key)
    dup = {t: sources for t, sources in filled.items() if len(sources) > 1}
    if dup:
        detail = "; ".join(f"{t!r} from " + ", ".join(sources) for t, sources in dup.items())
        errors.add((), f"each TikTok field may be mapped from one path only: {detail}", value)
    if len(value) < min_entries:
        errors.add((), f"must have at least {min_entries} entry", value)
    _check_derivations(errors, value, filled)
    if errors.found:
        raise ValidationError.from_exception_data("mapping", errors.found)
    return value


def _not_a_target(entry: object, what: str, names: list[str]) -> str:
    if type(entry) is not str:
        return (f"{shown(entry)} is not a TikTok field name: a record path key maps to a field name; for a "
                "default or a constant, key the entry by the field, e.g. {'email': {'path': ..., 'default': ...}}")
    close = _near(entry, names)
    if close is not None:
        return f"{entry!r} is not {what}; did you mean {close!r}?"
    return f"{entry!r} is not {what}; must be one of {_listing(names)}"


def _unknown_key(key: str, what: str, names: list[str]) -> str:
    close = _near(key, names)
    hint = f"; did you mean {close!r}?" if close is not None else ""
    return f"{key!r} is neither {what} nor {_PATH_WORDS}{hint}"


def _check_source(errors: _Errors, target: str, entry: object, targets: Mapping[str, Kind], url_params: bool) -> None:
    loc = (target,)
    if type(entry) is str:
        if not is_path(entry):
            errors.add(loc, f"{shown(entry)} is not a record path: must be {_PATH_WORDS}", entry)
        return
    if type(entry) is not dict or not entry:
        errors.add(loc, f"{shown(entry)} is not a source: give a record path or an object with "
                   + " or ".join(repr(k) for k in ("path", "const", "derive", "url_param")), entry)
        return
    for key in entry:
        if key not in SOURCE_KEYS:
            close = _near(str(key), list(SOURCE_KEYS))
            hint = f"; did you mean {close!r}?" if close else f"; a source takes {_listing(list(SOURCE_KEYS))}"
            errors.add((*loc, str(key)), f"unknown key {key!r}{hint}", key)
    kind = targets[target]
    for problem in _shape_problems(target, entry, kind, url_params):
        errors.add(loc, problem, entry)


def _shape_problems(target: str, entry: dict[str, Any], kind: Kind, url_params: bool) -> list[str]:
    given = [k for k in ("path", "const", "derive", "url_param") if k in entry]
    problems: list[str] = []
    if not given:
        return [f"{target} needs one of 'path', 'const', 'derive' or 'url_param'"]
    if "const" in entry:
        others = [k for k in entry if k != "const" and k in SOURCE_KEYS]
        if others:
            problems.append("a constant stands alone: remove " + _listing(others))
        problems += _value_problems("const", entry["const"], kind)
    if "derive" in entry:
        problems += _derive_problems(target, entry)
    if "path" in entry and not is_path(entry["path"]):
        problems.append(f"path {shown(entry['path'])} is not a record path: must be {_PATH_WORDS}")
    if "url_param" in entry:
        if not url_params:
            problems.append("url_param reads the page URL, which only web_events jobs have (page_url_field)")
        elif type(entry["url_param"]) is not str or _URL_PARAM(entry["url_param"]) is None:
            problems.append(f"url_param {shown(entry['url_param'])} is not a query parameter name: 1 to 64 "
                            "letters, digits, '_', '.', '~' or '-'")
    if "default" in entry:
        problems += _value_problems("default", entry["default"], kind)
    return problems


def _value_problems(key: str, value: object, kind: Kind) -> list[str]:
    if value is None:
        return [f"{key} may not be null: leave the field unmapped instead"]
    problem = kind.problem(value)
    if problem is None:
        return []
    close = _near(value, list(kind.values)) if type(value) is str and kind.values else None
    return [f"{key} {problem}" + (f"; did you mean {close!r}?" if close else "")]


def _derive_problems(target: str, entry: dict[str, Any]) -> list[str]:
    derive = entry["derive"]
    names = list(DERIVATIONS)
    if type(derive) is not str or derive not in DERIVATIONS:
        close = _near(derive, names) if type(derive) is str else None
        hint = f"did you mean {close!r}?" if close else f"must be one of {_listing(names)}"
        return [f"{shown(derive)} is not a derivation; {hint}"]
    if target not in DERIVATIONS[derive]:
        fits = [name for name, into in DERIVATIONS.items() if target in into]
        takes = f"{target} takes {_listing(fits)}" if fits else f"{target} cannot be derived"
        return [f"{derive!r} derives {', '.join(DERIVATIONS[derive])}, not {target}; {takes}"]
    if "path" in entry or "url_param" in entry:
        return ["a derived value takes no 'path' or 'url_param' (only a 'default')"]
    return []


def _check_derivations(errors: _Errors, value: dict[str, Any], filled: dict[str, list[str]]) -> None:
    for key, entry in value.items():
        derive = entry.get("derive") if type(entry) is dict else None
        if isinstance(derive, str) and key in DERIVATIONS.get(derive, ()) and "contents" not in filled:
            errors.add((key,), f"{derive!r} is computed from properties.contents, which is not mapped", entry)


# -- JSON Schema ---------------------------------------------------------------------------------------------
# The maps reference shared definitions (``#/$defs/<Kind>Source`` ...), which ``schema_defs`` gives and the job
# adapter adds to the document: without them each of the ~60 targets would repeat every source shape. Each
# definition is an object with ``properties`` (the source keys, documented in docs/jobs.md).

_RECORD_PATH: Final = {"type": "string", "pattern": PATH_PATTERN, "maxLength": PATH_MAX_LENGTH}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _source(description: str, properties: dict[str, Any], *shapes: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "description": description, "additionalProperties": False,
                              "properties": properties}
    if len(shapes) > 1:
        schema["oneOf"] = list(shapes)
    else:
        schema.update(shapes[0])
    return schema


def schema_defs(kinds: Iterable[Kind], derivable: Mapping[str, Kind]) -> dict[str, Any]:
    """The shared definitions: per kind its source shapes, and the derivations of the ``derivable`` targets."""
    defs: dict[str, Any] = {}
    for kind in kinds:
        value = dict(kind.schema)
        defs[f"{kind.name}Source"] = _source(
            f"A constant, or a record path with an optional default; a value is {kind.words}.",
            {"const": value, "path": _RECORD_PATH, "default": value},
            {"required": ["const"], "maxProperties": 1}, {"required": ["path"], "not": {"required": ["const"]}},
        )
        defs[f"{kind.name}UrlSource"] = _source(
            f"A query parameter of the page URL, else a record path, else a default; a value is {kind.words}.",
            {"url_param": {"type": "string", "pattern": URL_PARAM_PATTERN}, "path": _RECORD_PATH, "default": value},
            {"required": ["url_param"]},
        )
    for target, kind in derivable.items():
        names = [name for name, into in DERIVATIONS.items() if target in into]
        defs[_derived_def(target)] = _source(
            f"{target} computed from the event's contents, with an optional default.",
            {"derive": {"enum": names}, "default": dict(kind.schema)}, {"required": ["derive"]},
        )
    return defs


def _derived_def(target: str) -> str:
    return "Derived" + "".join(part.title() for part in target.split("_"))


def map_schema(targets: Mapping[str, Kind], *, description: str, min_entries: int = 0,
               url_params: bool = False) -> dict[str, Any]:
    """The JSON Schema of a map: target-keyed entries (``properties``) and record-path-keyed ones
    (``patternProperties``), nothing else."""
    entries: dict[str, Any] = {}
    derived = {t for into in DERIVATIONS.values() for t in into}
    for target, kind in targets.items():
        shapes = [_RECORD_PATH, _ref(f"{kind.name}Source")]
        if target in derived:
            shapes.append(_ref(_derived_def(target)))
        if url_params:
            shapes.append(_ref(f"{kind.name}UrlSource"))
        entries[target] = {"anyOf": shapes}
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": entries,
        "patternProperties": {PATH_PATTERN: {"enum": list(targets)}},
        "additionalProperties": False,
    }
    if min_entries:
        schema["minProperties"] = min_entries
    return schema
