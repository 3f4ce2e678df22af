"""The vector selectors of a PromQL expression, for tests that check each one against a real Prometheus.

Prometheus 2.42 has no parse endpoint (``/api/v1/parse_query`` came later), so this is a small tokenizer of
PromQL, enough for alert rules and dashboard queries: strings, comments, ``[range]`` and ``[range:step]``
brackets, numbers and durations are skipped; an identifier followed by ``(`` is a function or an aggregation;
the label lists after ``by``, ``without``, ``on``, ``ignoring``, ``group_left`` and ``group_right`` are not
metric names. Every other identifier, with its ``{matchers}`` if any, is a selector (a bare ``{matchers}`` too).

Each selector also carries the ``by (...)`` labels of the innermost aggregation around it (prefix
``sum by (a) (x)`` or postfix ``sum (x) by (a)``): the series it selects must have those labels.

    >>> [(s.text, s.by) for s in selectors('sum by (topic) (rate(tikstream_x{a="}"}[5m])) > 0')]
    [('tikstream_x{a="}"}', ('topic',))]
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Selector", "selectors"]

AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                          "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
WORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"})
IDENT_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:"
IDENT_CHARS = IDENT_START + "0123456789"


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str  # "" for a bare {matchers}
    text: str  # the instant selector as written: name{matchers}
    by: tuple[str, ...] = ()  # the labels of the innermost `by` aggregation around it


@dataclass
class _Group:
    aggregation: bool
    by: tuple[str, ...] = ()
    selectors: list[int] = field(default_factory=list)  # indexes into the result


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    i += 1
    while i < len(expr) and expr[i] != quote:
        i += 2 if expr[i] == "\\" and quote != "`" else 1
    if i >= len(expr):
        raise ValueError(f"unterminated string in {expr!r}")
    return i + 1


def _closing(expr: str, i: int, open_: str, close: str) -> int:
    """The index after the ``close`` matching ``expr[i] == open_`` (strings inside skipped)."""
    depth = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_}{close} in {expr!r}")


def _skip_space(expr: str, i: int) -> int:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i


def _word(expr: str, i: int) -> str:
    end = i
    while end < len(expr) and expr[end] in IDENT_CHARS:
        end += 1
    return expr[i:end].lower()


def _labels(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.strip("()").split(",") if part.strip())


def selectors(expr: str) -> list[Selector]:
    found: list[Selector] = []
    stack: list[_Group] = []
    last_closed: _Group | None = None  # the group a postfix `by (...)` applies to
    pending: _Group | None = None  # an aggregation seen, its `(` not yet
    i = 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = expr.find("\n", i)
            i = len(expr) if end < 0 else end
        elif c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "[":
            i = _closing(expr, i, "[", "]")
        elif c == "{":
            end = _closing(expr, i, "{", "}")
            found.append(Selector("", expr[i:end]))
            for group in stack:
                group.selectors.append(len(found) - 1)
            i = end
        elif c == "(":
            group, pending = (pending or _Group(aggregation=False)), None
            stack.append(group)
            i += 1
        elif c == ")":
            if not stack:
                raise ValueError(f"unbalanced () in {expr!r}")
            last_closed = stack.pop()
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < len(expr) and expr[i + 1].isdigit()):
            while i < len(expr) and (expr[i] in IDENT_CHARS or expr[i] == "."):
                i += 1
        elif c in IDENT_START:
            start = i
            while i < len(expr) and expr[i] in IDENT_CHARS:
                i += 1
            word = expr[start:i]
            after = _skip_space(expr, i)
            if word.lower() in LABEL_LISTS:
                end = _closing(expr, after, "(", ")") if after < len(expr) and expr[after] == "(" else after
                if word.lower() == "by":
                    labels = _labels(expr[after:end])
                    if pending is not None:
                        pending.by = labels
                    elif last_closed is not None and last_closed.aggregation:
                        last_closed.by = labels
                        _rewrite(found, last_closed)
                i = end
            elif word.lower() in AGGREGATIONS and (expr[after:after + 1] == "(" or _word(expr, after) in LABEL_LISTS):
                pending = _Group(aggregation=True)
            elif word.lower() in WORDS or (after < len(expr) and expr[after] == "("):
                pass  # a keyword, or a function call
            else:
                end = _closing(expr, after, "{", "}") if after < len(expr) and expr[after] == "{" else i
                inner = next((g.by for g in reversed(stack) if g.aggregation), ())
                found.append(Selector(word, expr[start:i] + expr[after:end] if end > i else word, inner))
                for group in stack:
                    group.selectors.append(len(found) - 1)
                i = end
        else:
            i += 1
    if stack:
        raise ValueError(f"unbalanced () in {expr!r}")
    return found


def _rewrite(found: list[Selector], group: _Group) -> None:
    """A postfix ``by``: the group's selectors that had no nearer ``by`` get its labels."""
    for index in group.selectors:
        s = found[index]
        if not s.by:
            found[index] = Selector(s.metric, s.text, group.by)
