"""The native events core against the Python mapper, its oracle: byte-identical event bodies, the same identifier
counts and the same drop reasons, over seeded and hypothesis-generated triggers (tikstream.mapping.native).

``TIKSTREAM_DIFF_N`` triggers per job (default 2,000; ``make bench`` runs 100,000 through bench/bench_exactness.py).
"""

from __future__ import annotations

import json
import os
import random
import string
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import tikstream_native  # noqa: F401 - the extension must be built (make setup): no silent skip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tikstream.jobs.models import EventsJob, parse_job
from tikstream.mapping.compile import compile_events_job
from tikstream.mapping.native import BatchMapper
from tikstream.records import decode

N = int(os.environ.get("TIKSTREAM_DIFF_N", "2000"))

_SPACES = [" ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\u200b", ""]
_UNICODE = ["é", "ß", "İ", "Σ", "日本", "😀", "\u0660\u0661", "\uff21\uff22"]


def _pad(rnd: random.Random, s: str) -> str:
    if rnd.random() < 0.3:
        return rnd.choice(_SPACES) + s + rnd.choice(_SPACES)
    return s


def _email(rnd: random.Random, i: int) -> object:
    r = rnd.random()
    if r < 0.55:
        return _pad(rnd, f"{rnd.choice(['User', 'a.b', 'X_y+tag'])}{i}@{rnd.choice(['Example.com', 'mail.co.uk'])}")
    if r < 0.65:
        return rnd.choice([f"no-at-{i}", f"a@b@{i}.com", f"x@{i}", "x@.com", "a b@c.com", "x@y..z", "@x.com"])
    if r < 0.72:
        return _hex(rnd, 64, upper=rnd.random() < 0.5)
    if r < 0.8:
        return f"{rnd.choice(_UNICODE)}{i}@exämple.com"
    if r < 0.88:
        return [f"u{i}@a.com", f" U{i}@A.com ", None, ""] if rnd.random() < 0.5 else []
    return rnd.choice([None, "", "   ", 12, True, {"a": 1}, "a\x01b@c.de"])


def _hex(rnd: random.Random, n: int, upper: bool = False) -> str:
    s = "".join(rnd.choice("0123456789abcdef") for _ in range(n))
    return s.upper() if upper else s


_PHONE_FORMS = [
    "+1 (213) 373-{n4}", "(415) 555-{n4}", "213.373.{n4}", "+44 7400 {n6}", "07400 {n6}", "0044 20 7946 {n4}",
    "+49 151 {n8}", "030 {n8}", "+33 6 12 34 {n2} {n2b}", "+81 90-1234-{n4}", "+91 98{n8}", "+86 138 {n8}",
    "+7 912 345-{n2}-{n2b}", "+55 11 9{n8}", "+61 4{n8}", "1{n2}", "+{n2}", "+1 {n4}", "{n8}{n8}{n4}",
    "+1-800-FLOWERS", "+1 213 373 {n4} ext 12", "12+34", "+1+2", "0{n8}", "00{n4}", "+0 {n8}", "+999 {n8}",
    "٠١٢٣٤٥٦٧٨٩", "+1 (213) 373-{n4}\u00a0", "(+1)2133734253", "+882 {n8}", "+800 {n8}", "+39 06 {n8}",
    "+54 9 11 {n8}", "+52 1 55 {n8}", "+262 {n2}{n4}{n2b}", "+1 340 {n4}{n2}", "011 44 20 {n8}",
]


def _phone(rnd: random.Random, i: int) -> object:
    r = rnd.random()
    if r < 0.8:
        form = rnd.choice(_PHONE_FORMS)
        return _pad(rnd, form.format(n2=f"{rnd.randrange(100):02d}", n2b=f"{rnd.randrange(100):02d}",
                                     n4=f"{rnd.randrange(10000):04d}", n6=f"{rnd.randrange(10**6):06d}",
                                     n8=f"{rnd.randrange(10**8):08d}"))
    if r < 0.86:
        return rnd.choice([2133734253, 12133734253, 4915112345678, 2133734253.0, -5, 1.5, 10**20, 0])
    if r < 0.9:
        return _hex(rnd, 64)
    if r < 0.95:
        return [f"+1 213 373 {rnd.randrange(10000):04d}", "bad", "+44 20 7946 0000"]
    return rnd.choice([None, "", " ", False, [], {"x": 1}])


def _external_id(rnd: random.Random, i: int) -> object:
    r = rnd.random()
    if r < 0.6:
        return _pad(rnd, f"{rnd.choice(['User_', 'id-', ''])}{i}")
    if r < 0.75:
        return rnd.choice([i, float(i), 10**25, 1e29, 2**64 + 1, -1, 0.5, True])
    if r < 0.82:
        return _hex(rnd, 64, upper=True)
    if r < 0.9:
        return rnd.choice(_UNICODE) + str(i)
    return rnd.choice([None, "", [], [str(i), str(i), f" {i} "], {"a": 1}])


def _ip(rnd: random.Random, i: int) -> object:
    r = rnd.random()
    if r < 0.7:
        return _pad(rnd, ".".join(str(rnd.randrange(256)) for _ in range(4)))
    return rnd.choice(["2001:db8::1", "::ffff:1.2.3.4", "01.2.3.4", "256.1.1.1", "1.2.3", "fe80::1%eth0", "x",
                       None, "", 12345, "1.2.3.4 ", "\uff11.2.3.4"])


def _text(rnd: random.Random, i: int) -> object:
    r = rnd.random()
    if r < 0.7:
        return _pad(rnd, f"Mozilla/5.0 ({rnd.choice(_UNICODE)}) \"quoted\" \\ {i}\x07")
    return rnd.choice([None, "", "  ", 42, 1.5, True, ["a"], {"b": 2}])


def _maid(rnd: random.Random, i: int) -> object:
    u = f"{rnd.getrandbits(128):032x}"
    dashed = f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
    return rnd.choice([_pad(rnd, dashed), dashed.upper(), u, "00000000-0000-0000-0000-000000000000", _hex(rnd, 64),
                       "not-a-uuid", "ÄBC-" + dashed[4:], None, "", 7, ["x"]])


def _att(rnd: random.Random, i: int) -> object:
    return rnd.choice(["authorized", " DENIED ", "Not_Determined", "restricted", "NOT_APPLICABLE", "nope", "\u0131",
                       None, "", 1, True])


def _number(rnd: random.Random, i: int) -> object:
    return rnd.choice([i, -i, i + 0.5, 46.0, 1e-7, 1e16, 1e-5, 123456.789, 2**63, 2**70, "12.5", " 7 ", "abc",
                       None, True, [1, 2], {"v": 1}, 0, -0.0, 0.1 + 0.2])


def _currency(rnd: random.Random, i: int) -> object:
    return rnd.choice(["usd", " eur ", "Gbp\t", "\uff55\uff53\uff44", "", None, 12, 1.5, False, ["usd"], "ß"])


def _ts(rnd: random.Random, i: int) -> object:
    return rnd.choice([1_764_000_000 + i, 1_764_000_000_123 + i, 1_764_000_000.5 + i, "2026-11-24T10:15:00Z",
                       "2026-11-24T10:15:00.123456789+02:00", None])


def profile(rnd: random.Random, i: int) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for key, gen in (("email", _email), ("phone", _phone), ("ip", _ip), ("ua", _text), ("ttclid", _text),
                     ("total", _number), ("currency", _currency), ("sku", _number), ("page", _text),
                     ("ref", _text), ("when", _ts), ("eid", _event_id), ("idfa", _maid), ("gaid", _maid),
                     ("att", _att), ("ver", _text)):
        if rnd.random() < 0.92:
            user[key] = gen(rnd, i)
    if rnd.random() < 0.5:
        user["nested"] = {"ids": [_external_id(rnd, i), _external_id(rnd, i + 1)]}
    return user


def _event_id(rnd: random.Random, i: int) -> object:
    return rnd.choice([f"order-{i}", "  ", i, 1.5, 2.0, None, True, "é"])


def record(rnd: random.Random, i: int) -> bytes:
    doc: dict[str, Any] = {"audience": rnd.choice(["aud", "aud", "aud", "other"]),
                           "event": rnd.choice(["enter", "enter", "exit"]),
                           "user_id": _pad(rnd, f"u-{i}") or f"u{i}", "ts": _ts(rnd, i) or 1_764_000_000}
    if rnd.random() < 0.97:
        doc["user"] = profile(rnd, i)
    return json.dumps(doc, ensure_ascii=rnd.random() < 0.3).encode()  # json: ints past 64 bits too


WEB_IDS = {"user.email": "email", "user.phone": "phone", "user_id": "external_id", "user.ip": "ip",
           "user.ua": "user_agent", "user.ttclid": "ttclid"}
WEB_PROPS = {"user.total": "value", "user.currency": "currency", "user.sku": "order_id",
             "user.ref": "description"}


def web_job(**extra: Any) -> dict[str, Any]:
    return {"id": "diff-web", "type": "web_events", "auth": "a", "audiences": ["aud"], "triggers": ["enter"],
            "pixel_code": "C4ABCDEF", "event_name": "CompletePayment", "page_url_field": "user.page",
            "page_referrer_field": "user.ref", "identifiers": dict(WEB_IDS), "properties": dict(WEB_PROPS),
            **extra}


JOBS = [
    pytest.param(web_job(default_phone_region="US"), id="web-us-possible"),
    pytest.param(web_job(default_phone_region="GB", phone_policy="valid", limited_data_use=True,
                         triggers=["enter", "exit"]), id="web-gb-valid"),
    pytest.param(web_job(phone_policy="e164", event_time_field="user.when", event_id_field="user.eid"),
                 id="web-e164-fields"),
    pytest.param(web_job(default_phone_region="DE", identifiers={**WEB_IDS, "user.nested.ids": "external_id"}
                         | {"user_id": "ttp"}), id="web-de-nested"),
    pytest.param({"id": "diff-app", "type": "app_events", "auth": "a", "audiences": ["aud"], "app_id": "7123456789",
                  "app_name": 'Shop "App" é', "store_app_id": "com.example.app", "app_version_field": "user.ver",
                  "event_name": "Purchase", "default_phone_region": "JP", "properties": {"user.total": "value"},
                  "identifiers": {"user.email": "email", "user.phone": "phone", "user_id": "external_id",
                                  "user.idfa": "idfa", "user.gaid": "gaid", "user.att": "att_status",
                                  "user.ip": "ip", "user.ua": "user_agent"}}, id="app-jp"),
    pytest.param({"id": "diff-app2", "type": "app_events", "auth": "a", "audiences": ["aud"], "app_id": "7123456789",
                  "app_name": "X", "event_name": "Purchase", "device_id_policy": "any", "limited_data_use": True,
                  "identifiers": {"user.idfa": "idfa", "user.gaid": "gaid", "user.att": "att_status"}},
                 id="app-any-device-ids"),
    pytest.param({"id": "diff-off", "type": "offline_events", "auth": "a", "audiences": ["aud", "other"],
                  "event_set_id": "7123", "event_name": "Purchase", "default_phone_region": "FR",
                  "identifiers": {"user.email": "email", "user.phone": "phone", "user_id": "external_id"},
                  "properties": {"user.total": "value"}}, id="offline-fr"),
]


def both(job_doc: dict[str, Any]) -> tuple[EventsJob, Any, Any, BatchMapper]:
    job = parse_job(job_doc)
    assert isinstance(job, EventsJob)
    oracle, mapped = compile_events_job(job), compile_events_job(job)
    batch = BatchMapper(job, mapped)
    assert batch.native, batch.why_not
    return job, oracle, mapped, batch


def compare(job_doc: dict[str, Any], values: list[bytes]) -> int:
    """Assert byte-identical bodies and equal counts; returns how many records the core mapped itself."""
    _, oracle, mapped, batch = both(job_doc)
    triggers = [decode(v, 1_764_000_000_000) for v in values]
    core_says = batch._core.map_batch([t.raw for t in triggers], [t.ts for t in triggers])[0]
    mapped.counts.take(), mapped.counts.take_drops()  # the direct call above counted too: start again
    bodies = batch(triggers)
    for trigger, body in zip(triggers, bodies, strict=True):
        event = oracle(trigger)
        expected = None if event is None else orjson.dumps(event)
        assert body == expected, trigger.raw
    assert mapped.counts.take() == oracle.counts.take()
    assert mapped.counts.take_drops() == oracle.counts.take_drops()
    return sum(1 for b in core_says if b is not False)


@pytest.mark.parametrize("job_doc", JOBS)
def test_seeded_triggers_map_byte_identical(job_doc: dict[str, Any]) -> None:
    rnd = random.Random(14)
    values = [record(rnd, i) for i in range(N)]
    native = 0
    for start in range(0, N, 500):
        native += compare(job_doc, values[start:start + 500])
    assert native > N // 5, f"the core mapped only {native} of {N}: the test would say little"


def test_the_bench_workload_is_all_native() -> None:
    """The distinct-user workload of bench/bench_cpu.py never leaves the core (phones included)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_cpu import job, trigger

    values = [trigger(i) for i in range(2000)]
    for with_phone in (True, False):
        assert compare(job("diff-bench", with_phone), values) == len(values)


_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                         st.text(alphabet=string.digits + " +()-.", max_size=20),
                         st.sampled_from(["a@b.co", " X@Y.Z ", "1.2.3.4", "+1 213 373 4253", "07400 123456"]))
_json = st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=st.dictionaries(st.sampled_from(["email", "phone", "ip", "ua", "ttclid", "total", "currency", "sku",
                                             "page", "ref", "when", "eid", "nested"]), _json, max_size=10),
       user_id=st.text(min_size=1, max_size=10).filter(lambda s: not s.isspace()))
def test_hypothesis_profiles_map_byte_identical(user: dict[str, Any], user_id: str) -> None:
    value = json.dumps({"audience": "aud", "event": "enter", "user_id": user_id, "ts": 1_764_000_000,
                        "user": user}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for job_doc in (web_job(default_phone_region="US"), web_job(phone_policy="e164", event_time_field="user.when",
                                                               event_id_field="user.eid")):
        compare(job_doc, [value])


@pytest.mark.parametrize("job_doc", [
    pytest.param(web_job(identifiers={"user.email": "email", "user.zip": "zip_code"}), id="zip_code"),
    pytest.param(web_job(identifiers={"user.email": "email", "user.fn": "first_name"}), id="first_name"),
    pytest.param(web_job(properties={"value": {"const": 1}}), id="const"),
    pytest.param(web_job(properties={"user.items": "contents"}), id="contents"),
    pytest.param({"id": "diff-crm", "type": "crm_events", "auth": "a", "audiences": ["aud"], "event_set_id": "7300",
                  "event_name": "Lead", "lead_id_field": "user_id", "lead_event_source": "HubSpot",
                  "identifiers": {"user.email": "email"}}, id="crm-lead"),
])
def test_jobs_the_core_does_not_handle_map_in_python(job_doc: dict[str, Any]) -> None:
    job = parse_job(job_doc)
    assert isinstance(job, EventsJob)
    batch = BatchMapper(job, compile_events_job(job))
    assert not batch.native and batch.why_not
    trigger = decode(record(random.Random(1), 1), None)
    oracle = compile_events_job(job)(trigger)
    assert batch([trigger]) == [None if oracle is None else orjson.dumps(oracle)]


def test_triggers_without_their_record_value_map_in_python() -> None:
    """A trigger built in code (no ``raw`` bytes) is left to the Python mapper, and comes out the same."""
    from tikstream.records import Trigger

    _, oracle, _, batch = both(web_job(default_phone_region="US"))
    doc = orjson.loads(record(random.Random(3), 3))
    doc["audience"], doc["event"] = "aud", "enter"
    built = Trigger("aud", "enter", doc["user_id"], 1_764_000_000.0, doc)
    assert batch._core.map_batch([built.raw, bytearray(b"{}")], [built.ts, 0.0])[0] == [False, False]
    assert batch([built]) == [orjson.dumps(oracle(built))]
