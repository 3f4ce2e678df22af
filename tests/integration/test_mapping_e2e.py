"""The mapping shapes end to end: real Kafka, a real ``App`` in process, the emulator over real sockets as the
referee. Two web jobs read the same triggers: one with the new shapes (event_id from the record, a constant, a
default, num_items and value derived from the cart, ttclid from the page URL, vehicle properties) and the default
``phone_policy: possible``; the other with ``phone_policy: valid``. The emulator must hold exactly the events the
mappings promise; a phone libphonenumber calls possible but not valid reaches TikTok only through the first job,
and is counted as dropped, with its reason, by the second; a vehicle property of the wrong type is refused by the
emulator and dead-lettered."""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import produce
from conftest import running_app as shared_running_app
from emulator_proc import admin_url, running_emulator
from instances import wait_for

from tikstream.app import App
from tikstream.kafka.config_topic import publish
from tikstream.mapping.compile import event_id
from tikstream.records import decode
from tikstream.settings import Settings

PIXEL_NEW, PIXEL_VALID = "C4MAPPING", "C4VALIDONLY"
VALID_PHONE, POSSIBLE_PHONE = "+1 213 373 4253", "+1 555 555 0100"  # the second: no such area code
MAPPED = {
    "id": "web-mapped", "type": "web_events", "auth": "pixel-new", "audiences": ["shoppers"],
    "pixel_code": PIXEL_NEW, "event_name": "Purchase", "page_url_field": "user.page",
    "event_id_field": "user.order_id",
    "identifiers": {"user.email": "email", "phone": "user.phone", "ttclid": {"url_param": "ttclid"},
                    "country": {"path": "user.country", "default": "us"}},
    "properties": {"contents": "user.cart", "content_type": {"const": "product"}, "num_items": {"derive": "count"},
                   "value": {"derive": "sum_price_quantity"}, "currency": {"path": "user.currency", "default": "EUR"},
                   "make": "user.car.make", "state_of_vehicle": "user.car.state",
                   "mileage.value": "user.car.km", "mileage.unit": {"const": "KM"}},
}  # fmt: skip
STRICT = {
    "id": "web-strict", "type": "web_events", "auth": "pixel-valid", "audiences": ["shoppers"],
    "pixel_code": PIXEL_VALID, "event_name": "Purchase", "page_url_field": "user.page", "phone_policy": "valid",
    "identifiers": {"user.phone": "phone", "user.email": "email"},
}  # fmt: skip
TOKENS = {"pixel-new": ("tok-new", PIXEL_NEW), "pixel-valid": ("tok-valid", PIXEL_VALID)}
N = 200
BAD = 7  # the trigger whose vehicle state TikTok's enumeration refuses


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def auth_file() -> bytes:
    return orjson.dumps({"authorizations": {
        name: {"kind": "events_token", "access_token": token, "pixel_code": pixel}
        for name, (token, pixel) in TOKENS.items()
    }})


def trigger(i: int) -> dict[str, Any]:
    user: dict[str, Any] = {
        "email": f"buyer{i}@example.com", "phone": POSSIBLE_PHONE if i % 2 else VALID_PHONE,
        "page": f"https://shop.example/checkout?step=pay&ttclid=E.C.P.{i}" if i % 3 else "https://shop.example/",
        "cart": [{"id": f"sku-{i}", "price": 8.1, "qty": 3}, {"sku": "socks", "price": 2}],
        "car": {"make": "Endomoto", "state": "Owned" if i == BAD else "Used", "km": 1000 + i},
    }
    if i % 4:
        user["order_id"] = 5000 + i  # a number: sent as the string "5000..."
    if i % 5:
        user["currency"] = "usd"
    return {"audience": "shoppers", "event": "enter", "user_id": f"u-{i}", "ts": 1_800_000_000 + i, "user": user}


def expected_mapped(doc: dict[str, Any]) -> dict[str, Any]:
    """The item the mapped job must send for one trigger (written from docs/jobs.md, not from the code)."""
    i, user = int(doc["user_id"][2:]), doc["user"]
    t = decode(orjson.dumps(doc), None)
    sent_user: dict[str, Any] = {"email": [sha(user["email"])],
                                 "phone": [sha("+15555550100" if i % 2 else "+12133734253")]}
    if i % 3:
        sent_user["ttclid"] = f"E.C.P.{i}"
    sent_user["country"] = "us"
    return {
        "event": "Purchase", "event_time": 1_800_000_000 + i,
        "event_id": str(user["order_id"]) if "order_id" in user else event_id(MAPPED["id"], t),
        "user": sent_user,
        "properties": {
            "contents": [{"content_id": f"sku-{i}", "price": 8.1, "quantity": 3}, {"content_id": "socks", "price": 2}],
            "content_type": "product", "currency": "USD" if i % 5 else "EUR", "make": "Endomoto",
            "state_of_vehicle": "Used", "mileage": {"value": 1000 + i, "unit": "KM"}, "num_items": 2, "value": 26.3,
        },
        "page": {"url": user["page"]}, "limited_data_use": False,
    }


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Callable[..., str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "auth.json").write_bytes(auth_file())
    triggers, config, dlq = new_topic(3, "triggers"), new_topic(1, "jobs", {"cleanup.policy": "compact"}), \
        new_topic(1, "dlq")
    publish(kafka_config, config,
            [(j["id"], orjson.dumps({**j, "created_at": "2020-01-01T00:00:00Z"})) for j in (MAPPED, STRICT)])
    with running_emulator("--tokens", str(tmp_path / "auth.json"), "--seed", "7") as base:
        settings = Settings(bootstrap_servers=kafka_config["bootstrap.servers"], trigger_topics=(triggers,),
                            config_topic=config, dlq_topic=dlq, group_id=f"g-{uuid.uuid4().hex[:8]}",
                            tiktok_base_url=base, auth_file=tmp_path / "auth.json", http_port=0,
                            state_dir=tmp_path / "state")
        yield {"kafka": kafka_config, "triggers": triggers, "dlq": dlq, "base": base, "settings": settings,
               "auth": tmp_path / "auth.json"}


@contextlib.contextmanager
def running_app(env: dict[str, Any]) -> Iterator[App]:
    with shared_running_app(env["settings"], env["base"], env["auth"]) as app:
        yield app


def received(env: dict[str, Any], pixel: str) -> list[dict[str, Any]]:
    url = admin_url(env["base"], f"state?events=1&event_source_id={pixel}")
    response = httpx.get(url, timeout=60)
    response.raise_for_status()
    return [e for e in response.json()["events"]["list"] if e["source_id"] == pixel]


def _item(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("source", "source_id", "test_event_code", "received_at",
                                                       "duplicate")}


def read_letters(kafka: dict[str, str], topic: str, n: int) -> list[tuple[bytes, dict[str, bytes]]]:
    from confluent_kafka import Consumer

    consumer = Consumer({**kafka, "group.id": f"read-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    out: list[tuple[bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        for msg in consumer.consume(100, 0.5):
            if msg.error() is None:
                out.append((msg.value(), dict(msg.headers() or [])))  # type: ignore[arg-type]
    consumer.close()
    return out


def dropped(app: App, job: str, reason: str) -> float:
    value = app.metrics.registry.get_sample_value(
        "tikstream_identifier_dropped_total", {"job": job, "field": "phone", "reason": reason})
    return value or 0.0


def test_the_new_mapping_shapes_end_to_end(env: dict[str, Any]) -> None:
    docs = [trigger(i) for i in range(N)]
    values = [orjson.dumps(d) for d in docs]
    produce(env["kafka"], env["triggers"], [(d["user_id"].encode(), v) for d, v in zip(docs, values, strict=True)])
    expected = {d["user_id"]: expected_mapped(d) for d in docs if int(d["user_id"][2:]) != BAD}
    with running_app(env) as app:
        wait_for(lambda: len(received(env, PIXEL_NEW)) >= len(expected) and len(received(env, PIXEL_VALID)) >= N,
                 120, "every event at the emulator")
        wait_for(lambda: dropped(app, "web-strict", "not_valid") >= N // 2, 30, "the drop counted")
        # a replay of the records keeps every event_id, from the record or derived: TikTok deduplicates them
        produce(env["kafka"], env["triggers"], [(docs[i]["user_id"].encode(), values[i]) for i in range(BAD)])
        wait_for(lambda: sum(e["duplicate"] for e in received(env, PIXEL_NEW)) >= BAD, 60, "the replayed events")
        assert dropped(app, "web-mapped", "not_valid") == 0
    mapped = [e for e in received(env, PIXEL_NEW) if not e["duplicate"]]
    assert sorted((_item(e) for e in mapped), key=lambda e: e["event_time"]) == sorted(
        expected.values(), key=lambda e: e["event_time"])
    assert all(isinstance(e["event_id"], str) for e in mapped)
    strict = [e for e in received(env, PIXEL_VALID) if not e["duplicate"]]  # the replay was sent here too
    assert len(strict) == N
    for event in strict:
        i = event["event_time"] - 1_800_000_000
        assert ("phone" in event["user"]) is (i % 2 == 0)  # the possible-only phone is dropped by `valid`
    # the vehicle state TikTok refuses ("Owned" is no state_of_vehicle): dead-lettered, the record unchanged
    (letter,) = read_letters(env["kafka"], env["dlq"], 1)
    assert letter[0] == values[BAD]
    assert letter[1]["error_class"] == b"tiktok_rejected" and letter[1]["job"] == b"web-mapped"
    assert b"state_of_vehicle" in letter[1]["error"]
