"""Sample triggers for the demo: plausible profiles, enter and exit, and a few poison records.

Profiles look like what an audience engine sends (docs/architecture.md §3): e-mails written carelessly (case, spaces),
phones from several countries in several notations (some without a country code, some not numbers at all),
mobile advertising ids (IDFA upper case, GAID lower case) with the ATT status, an IP and a user agent, the
last order with its contents, and (for most) a CRM lead id. A few e-mails arrive already hashed. Every address
is on a reserved domain (``example.com`` and friends, RFC 2606) and every IP in a documentation range (RFC 5737), so the
demo never carries a real person's data.

The plan is deterministic for a seed. Each valid trigger belongs to one of the audiences the example jobs
follow; users enter, and some later exit (only ``audience_export`` acts on exits there). The ``ts`` of a
trigger is the time it is produced (``Planned.value``).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import phonenumbers

__all__ = ["AUDIENCES", "POISON", "Plan", "Planned", "make_plan"]

AUDIENCES: Final[dict[str, float]] = {  # slug -> share of the valid triggers
    "vip_customers": 0.35, "cart_abandoners": 0.22, "trial_users": 0.18, "in_store_buyers": 0.13,
    "qualified_leads": 0.12,
}  # fmt: skip
NO_LEAD_SHARE: Final = 0.1  # profiles without a CRM lead id: a crm job dead-letters their triggers
EXIT_SHARE: Final = 0.2  # of an audience's triggers, once it has members

POISON: Final[tuple[tuple[str, bytes | None], ...]] = (  # (DLQ reason, value)
    ("invalid_json", b'{"audience": "vip_customers", "event": "enter", "user_id": "u-trunc", "user": {"em'),
    ("missing_field", b'{"audience": "vip_customers", "event": "enter", "user": {"email": "a@example.com"}}'),
    ("invalid_field", b'{"audience": "cart_abandoners", "event": "joined", "user_id": "u-joined"}'),
    ("invalid_ts", b'{"audience": "trial_users", "event": "enter", "user_id": "u-ts", "ts": "yesterday noon"}'),
    ("not_object", b'["vip_customers", "enter", "u-array"]'),
    ("not_utf8", b'{"audience": "in_store_buyers", "event": "enter", "user_id": "u-\xff\xfe"}'),
    ("null_value", None),
)

_FIRST = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas", "Kavya",
          "Lucas", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Yuki", "Zoe")
_LAST = ("Smith", "García", "Müller", "Dubois", "Silva", "Sato", "Kumar", "Rossi", "Nowak", "Okafor",
         "Johansson", "López", "Kim", "Novak", "Brown", "Martin")
_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "shop.example")
_COUNTRIES: Final = {  # region -> (currency, locale, city, share)
    "US": ("USD", "en_US", "Austin", 0.35), "GB": ("GBP", "en_GB", "Leeds", 0.12),
    "DE": ("EUR", "de_DE", "Köln", 0.12), "FR": ("EUR", "fr_FR", "Lyon", 0.1),
    "BR": ("BRL", "pt_BR", "Campinas", 0.1), "IN": ("INR", "en_IN", "Pune", 0.08),
    "JP": ("JPY", "ja_JP", "Osaka", 0.07), "MX": ("MXN", "es_MX", "Puebla", 0.06),
}  # fmt: skip
_PRODUCTS = (("SKU-1001", "Trail running shoes", 89.0), ("SKU-1002", "Merino socks", 14.5),
             ("SKU-2001", "Espresso grinder", 129.0), ("SKU-2002", "Ceramic mug", 12.0),
             ("SKU-3001", "Wireless earbuds", 59.9), ("SKU-3002", "Phone case", 19.9),
             ("SKU-4001", "Yoga mat", 34.0), ("SKU-5001", "Cookbook", 24.0))
_AGENTS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
           "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
           "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36")
_ATT = ("AUTHORIZED", "DENIED", "NOT_DETERMINED")


@dataclass(frozen=True, slots=True)
class Planned:
    """One record to produce: a trigger (``doc``) or a poison record (``raw``, ``reason``)."""

    key: str
    doc: dict[str, Any] | None = None
    raw: bytes | None = None
    reason: str | None = None

    @property
    def audience(self) -> str | None:
        return None if self.doc is None else str(self.doc["audience"])

    @property
    def event(self) -> str | None:
        return None if self.doc is None else str(self.doc["event"])

    def value(self, now: datetime) -> bytes | None:
        """The record value, with ``ts`` set to ``now`` for a trigger."""
        if self.doc is None:
            return self.raw
        return orjson.dumps({**self.doc, "ts": now.isoformat().replace("+00:00", "Z")})


@dataclass(frozen=True, slots=True)
class Plan:
    records: tuple[Planned, ...]

    def counts(self) -> Counter[tuple[str, str]]:
        """(audience, event) -> number of valid triggers."""
        return Counter((r.audience, r.event) for r in self.records if r.audience and r.event)

    @property
    def poison(self) -> int:
        return sum(1 for r in self.records if r.doc is None)


def make_plan(triggers: int, seed: int = 7, now: datetime | None = None, poison: int = len(POISON)) -> Plan:
    """``triggers`` valid triggers, with ``poison`` poison records spread among them (deterministic)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    profiles = _Profiles(rng, now)
    members: dict[str, list[str]] = {a: [] for a in AUDIENCES}
    records: list[Planned] = []
    slugs, weights = list(AUDIENCES), list(AUDIENCES.values())
    for _ in range(triggers):
        audience = rng.choices(slugs, weights)[0]
        inside = members[audience]
        if len(inside) > 5 and rng.random() < EXIT_SHARE:
            user_id = inside.pop(rng.randrange(len(inside)))
            event = "exit"
        else:
            user_id = profiles.pick_user(audience, inside)
            inside.append(user_id)
            event = "enter"
        doc = {"audience": audience, "event": event, "user_id": user_id, "user": profiles.get(user_id)}
        records.append(Planned(user_id, doc=doc))
    for i, (reason, raw) in enumerate((POISON * (poison // len(POISON) + 1))[:poison]):
        records.insert(rng.randrange(len(records) + 1), Planned(f"poison-{i}", raw=raw, reason=reason))
    return Plan(tuple(records))


class _Profiles:
    """Users and their (stable) profiles."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self._rng = rng
        self._now = now
        self._profiles: dict[str, dict[str, Any]] = {}

    def pick_user(self, audience: str, inside: list[str]) -> str:
        """A user not in ``audience``: mostly a new one, sometimes a known user of another audience."""
        known = [u for u in self._rng.sample(sorted(self._profiles), min(5, len(self._profiles)))
                 if u not in inside]
        if known and self._rng.random() < 0.3:
            return known[0]
        user_id = f"u-{len(self._profiles) + 1:06d}"
        self._profiles[user_id] = self._make(user_id)
        return user_id

    def get(self, user_id: str) -> dict[str, Any]:
        return self._profiles[user_id]

    def _make(self, user_id: str) -> dict[str, Any]:
        rng = self._rng
        region = rng.choices(list(_COUNTRIES), [c[3] for c in _COUNTRIES.values()])[0]
        currency, locale, city, _ = _COUNTRIES[region]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        ios = rng.random() < 0.5
        profile: dict[str, Any] = {
            "first_name": first, "last_name": last, "country": region, "city": city, "locale": locale,
            "ip": f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}",
            "user_agent": _AGENTS[0] if ios else rng.choice(_AGENTS[1:]),
            "currency": currency, "app_version": f"4.{rng.randrange(8, 13)}.{rng.randrange(0, 5)}",
            "plan_price": rng.choice((4.99, 9.99, 14.99)), "predicted_ltv": round(rng.uniform(20, 400), 2),
            "last_page": f"https://shop.example.com/cart?ref={user_id}",
            "referrer": rng.choice(("https://www.tiktok.com/", "https://shop.example.com/", "")),
            "store_id": f"store-{rng.randrange(1, 40):03d}",
        }  # fmt: skip
        email = _email(rng, first, last)
        if email is not None:
            profile["email"] = email
        phone = _phone(rng, region)
        if phone is not None:
            profile["phone"] = phone
        profile["idfa" if ios else "gaid"] = _maid(rng, ios)
        if ios:
            profile["att_status"] = rng.choice(_ATT)
        profile.update(_order(rng, self._now, currency))
        if rng.random() >= NO_LEAD_SHARE:
            profile["lead_id"] = str(rng.randrange(10**12, 10**13))
            profile["qualified_at"] = profile["last_order_at"]
            profile["deal_value"] = rng.choice((500, 1200, 5000))
        return profile


def _email(rng: random.Random, first: str, last: str) -> str | None:
    roll = rng.random()
    if roll < 0.08:
        return None
    local = f"{first}.{last}".encode("ascii", "ignore").decode().lower() + str(rng.randrange(1, 999))
    address = f"{local}@{rng.choice(_DOMAINS)}"
    if roll < 0.15:
        return hashlib.sha256(address.encode()).hexdigest()  # the audience engine already hashed it
    if roll < 0.45:
        return f"  {local.title()}@{address.split('@')[1].upper()} "  # careless case and spaces
    return address


def _phone(rng: random.Random, region: str) -> str | None:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.19:
        return rng.choice(("12345", "n/a", "+1 555"))  # not a phone number: counted, never sent
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    number = example
    for _ in range(10):
        digits = str(example.national_number)
        candidate = phonenumbers.parse(f"+{example.country_code}{digits[:-4]}{rng.randrange(10_000):04d}")
        if phonenumbers.is_valid_number(candidate):
            number = candidate
            break
    style = phonenumbers.PhoneNumberFormat.INTERNATIONAL if roll < 0.6 else phonenumbers.PhoneNumberFormat.E164
    if region == "US" and roll > 0.85:
        style = phonenumbers.PhoneNumberFormat.NATIONAL  # no country code: the job's default region (US)
    return str(phonenumbers.format_number(number, style))


def _maid(rng: random.Random, ios: bool) -> str:
    value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return value.upper() if ios else value


def _order(rng: random.Random, now: datetime, currency: str) -> dict[str, Any]:
    picked = rng.sample(_PRODUCTS, rng.randrange(1, 4))
    lines = [(sku, name, price, rng.randrange(1, 4)) for sku, name, price in picked]
    total = round(sum(price * qty for _, _, price, qty in lines), 2)
    order_id = f"ORD-{rng.randrange(10**7, 10**8)}"
    at = (now - timedelta(minutes=rng.randrange(5, 3 * 24 * 60))).replace(microsecond=0)
    when = at.isoformat().replace("+00:00", "Z")
    contents = [{"content_id": sku, "content_name": name, "price": price, "quantity": qty}
                for sku, name, price, qty in lines]
    return {
        "order": {"order_id": order_id, "total": total, "currency": currency, "contents": contents},
        "order_total": total, "last_order_at": when,
        "last_order_total": total, "last_order_id": order_id, "last_purchase_at": when,
    }  # fmt: skip
