"""The fast path of ``/event/track/`` against the rule book: it never accepts what the rule book refuses, gives
the same facts when it accepts, and does accept the bodies tikstream sends (else it would not be fast)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from emu_api import sha
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tikstream.emulator import track_decoder
from tikstream.emulator.envelope import ApiError
from tikstream.emulator.events import Checked, _check, check_body
from tikstream.emulator.params import json_body
from tikstream.emulator.track_schema import HASHED

IDFA = "1E2DFA89-496A-47FD-9941-DF1FC4E6484A"
GAID = "1e2dfa89-496a-47fd-9941-df1fc4e6484a"


def _slow(body: bytes) -> Checked:
    """The rule book alone (orjson + jsonschema-rs), as ``check_body`` did before the fast path."""
    try:
        return _check(json_body(body))
    except ApiError as error:  # not a JSON object
        return Checked("", "", None, 0, (), (), error.message)


def _facts(checked: Checked) -> tuple[Any, ...]:
    return checked.source, checked.source_id, checked.test_event_code, checked.events, checked.event_ids


def _web(i: int, **over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event": "Purchase",
        "event_time": 1_735_689_600 + i,
        "event_id": f"e-{i}",
        "user": {
            "email": [sha(f"u{i}@example.com")],
            "phone": sha(f"+1555{i:07d}"),
            "external_id": [sha(f"x{i}"), sha(f"y{i}")],
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
        },
        "properties": {"currency": "USD", "value": 12.5, "contents": [{"content_id": "sku", "quantity": 2}]},
        "page": {"url": "https://shop.example/", "referrer": "https://shop.example/cart"},
    }
    item.update(over)
    return item


def _body(events: list[dict[str, Any]], source: str = "web", **top: Any) -> bytes:
    """Compact JSON, as orjson writes it, but with integers of any size."""
    doc = {"event_source": source, "event_source_id": "CPIXEL0001", "data": events, **top}
    return json.dumps(doc, separators=(",", ":")).encode()


ACCEPTED = {
    "web-mixed-hash-shapes": _body([_web(i) for i in range(50)]),
    "web-no-user": _body([_web(0, user={}), {"event": "ViewContent", "event_time": 1_735_689_600}]),
    "web-empty-hash-list": _body([_web(0, user={"email": []})]),
    "test-event-code": _body([_web(0)], test_event_code="TEST123", partner_name="tikstream"),
    "app-raw-and-hashed-device-ids": _body(
        [
            _web(0, user={"idfa": IDFA, "att_status": "AUTHORIZED"}, app={"app_id": "123", "is_retargeting": False}),
            _web(1, user={"gaid": GAID}),
            _web(2, user={"idfa": sha("idfa"), "gaid": sha("gaid")}),
        ],
        source="app",
    ),
    "offline-standard-events": _body([_web(0, event="Purchase"), _web(1, event="CompletePayment")], "offline"),
    "no-event-ids": _body([_web(0, event_id=None) | {}, {"event": "Lead", "event_time": 1}]).replace(
        b'"event_id":null,', b""
    ),
    "unknown-keys": _body([_web(0, extra={"anything": [1, None]})], unknown=True),
    "space-in-hash-list": _body([_web(0)]).replace(b'"email":["', b'"email":[ "', 1),
    "escape-in-hash": _body([_web(0, user={"email": "\\u0061" + sha("a")[1:]})]).replace(b"\\\\u", b"\\u"),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_fast_path_takes_what_tikstream_sends_and_agrees(name: str) -> None:
    body = ACCEPTED[name]
    slow = _slow(body)
    assert slow.error is None, slow.error
    fast = track_decoder.decode(body)
    assert fast is not None
    assert tuple(fast) == _facts(slow)
    assert check_body(body) == slow


REFUSED = {
    "hash-upper-case": _body([_web(0, user={"email": [sha("a").upper()]})]),
    "hash-63-chars": _body([_web(0, user={"email": sha("a")[:63]})]),
    "hash-with-newline": _body([_web(0, user={"email": sha("a")[:63] + "\n"})]),
    "hash-escaped-upper": _body([_web(0, user={"email": "\\u0041" + sha("a")[1:]})]).replace(b"\\\\u", b"\\u"),
    "66-byte-list-of-62-hex": _body([_web(0, user={"email": [sha("a")[:62]]})]),
    "68-byte-string-of-66-hex": _body([_web(0, user={"email": sha("a") + "ab"})]),
    "nested-hash-list": _body([_web(0, user={"email": [[sha("a")]]})]),
    "hash-number": _body([_web(0)]).replace(b'"phone":"', b'"phone":1234,"x":"', 1),
    "hash-null": _body([_web(0, user={"email": None})]),
    "currency-lower": _body([_web(0, properties={"currency": "usd"})]),
    "currency-trailing-newline": _body([_web(0, properties={"currency": "USD\n"})]),
    "idfa-lower-raw": _body([_web(0, user={"idfa": GAID})], "app"),
    "float-event-time": _body([_web(0, event_time=1.5e9)]),
    "integral-float-quantity": _body([_web(0, properties={"contents": [{"quantity": 2.0}]})]),
    "event-id-number": _body([_web(0, event_id=7)]),
    "offline-custom-event": _body([_web(0, event="MyEvent")], "offline"),
    "crm-without-lead": _body([_web(0)], "crm"),
    "duplicate-key-last-bad": _body([_web(0)]).replace(b'"event":"Purchase"', b'"event":"Purchase","event":5', 1),
    "not-json": b'{"event_source": "web"',
    "not-utf8": _body([_web(0)]).replace(b"Mozilla", b"Moz\xffilla"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_fast_path_leaves_to_the_rule_book(name: str) -> None:
    body = REFUSED[name]
    assert track_decoder.decode(body) is None
    assert check_body(body) == _slow(body)


def test_crm_is_left_to_the_rule_book_even_when_valid() -> None:
    body = _body([_web(0, lead={"lead_id": "L1"})], "crm")
    assert track_decoder.decode(body) is None
    assert check_body(body).error is None


def test_the_translation_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="additionalProperties"):
        track_decoder.type_for({"type": "object", "additionalProperties": False}, "X")
    with pytest.raises(ValueError, match="anchored"):
        track_decoder.type_for({"type": "string", "pattern": "[a-z]+"}, "X")
    with pytest.raises(ValueError, match="required"):
        track_decoder.type_for({"type": "object", "required": ["a"], "properties": {}}, "X")
    assert track_decoder.type_for(HASHED, "X") is track_decoder.msgspec.Raw


# -- the contract, on mutated bodies ----------------------------------------------------------------------

_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
    st.sampled_from(
        [sha("a"), sha("a").upper(), sha("a")[:63], sha("a") + "0", "USD", "usd", IDFA, GAID, "", "Purchase"]
    ),
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_PATHS = [
    ("event",), ("event_time",), ("event_id",), ("user",), ("user", "email"), ("user", "phone"),
    ("user", "external_id"), ("user", "first_name"), ("user", "idfa"), ("user", "gaid"), ("user", "ip"),
    ("user", "att_status"), ("properties",), ("properties", "currency"), ("properties", "value"),
    ("properties", "contents"), ("properties", "content_type"), ("properties", "num_items"), ("page",),
    ("page", "url"), ("app", "is_retargeting"), ("lead", "lead_id"), ("limited_data_use",),
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(["web", "app", "offline", "crm", "pixel"]),
    edits=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(_PATHS), st.one_of(_JSON, st.just("<delete>"))), max_size=3
    ),
)
def test_fast_path_never_accepts_what_the_rule_book_refuses(
    source: str, edits: list[tuple[int, tuple[str, ...], Any]]
) -> None:
    events = [_web(i) for i in range(4)]
    for index, path, value in edits:
        target: Any = events[index]
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        if value == "<delete>":
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    body = _body(events, source)
    fast, slow = track_decoder.decode(body), _slow(body)
    event(f"rule book {'accepts' if slow.error is None else 'refuses'}, fast path {'takes' if fast else 'leaves'}")
    if fast is not None:
        assert slow.error is None, f"fast path accepted a body the rule book refuses: {slow.error}"
        assert tuple(fast) == _facts(slow)
    assert check_body(body) == slow
