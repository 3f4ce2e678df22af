"""Field-level parity: TikTok's published hashing vectors and the peers' public behaviour, one row per case, each
citing where it comes from (tags of docs/tiktok-api.md, "Sources"). Rows marked DIFFERS are where tikstream
deliberately does otherwise; docs/jobs.md ("Where tikstream deliberately differs from the peers") says why."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from tikstream.jobs.models import parse_job
from tikstream.mapping.compile import compile_events_job
from tikstream.mapping.normalise import audience_id_value
from tikstream.records import decode


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def built(kind: str, user: dict[str, Any], **job: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "parity", "auth": "a", "audiences": ["aud"], "event_name": "Purchase",
                            "identifiers": {"user_id": "external_id"}}
    if kind == "web":
        base |= {"type": "web_events", "pixel_code": "C4ABCDEF", "page_url_field": "user.page"}
    else:
        base |= {"type": "app_events", "app_id": "7123456789", "app_name": "Example"}
    mapper = compile_events_job(parse_job({**base, **job}))  # type: ignore[arg-type]
    doc = {"audience": "aud", "event": "enter", "user_id": "u-1", "ts": 1_735_689_600, "user": user}
    event = mapper(decode(orjson.dumps(doc), None))
    assert event is not None
    return event


# (kind, TikTok user field, options (a policy, or the "source" of the field; default: the path user.v), the
# profile's user.v, the value sent; None: left out)
USER_ROWS = [
    # TikTok's vectors, bububa model/event/track.go (TikTok's text translated), recomputed in docs/tiktok-api.md §3.4
    pytest.param("web", "email", {}, " ALICE_abc@gmail.com ",
                 "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f", id="tiktok-email-vector"),
    pytest.param("web", "phone", {}, "(+1)2133734253",
                 "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd", id="tiktok-phone-vector"),
    pytest.param("web", "external_id", {}, "user_123",
                 "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b", id="tiktok-external-id-vector"),
    # SEG-conv __tests__/formatter.test.ts: formatEmails
    pytest.param("web", "email", {}, "bugsbunny@warnerbros.com",
                 "67e28cdcc3e845d3a4da05ca9fe5ddb7320a83b4cc2167f0555a3b04f63511e3", id="segment-email"),
    # SEG-conv formatter.test.ts: an already hashed email is passed on (smart hashing)
    pytest.param("web", "email", {}, "2d2fb2388f17f86affee71d632978425a3037fa8eed5b3f2baaa458c80d495ed",
                 "2d2fb2388f17f86affee71d632978425a3037fa8eed5b3f2baaa458c80d495ed", id="segment-prehashed-email"),
    # SEG-conv formatter.test.ts formatPhones: "+" and the digits, hashed; tikstream's `e164` policy
    pytest.param("web", "phone", {"phone_policy": "e164"}, "12345678901234",
                 "00a63bd0437d6ca0fa7b95c00ab2e7c020faa71440e5246750d6b517689e6777", id="segment-phone-e164"),
    # DIFFERS: the same digits are no possible number (+1 and 13 digits): dropped under the default policy
    pytest.param("web", "phone", {}, "12345678901234", None, id="segment-phone-default-differs"),
    # DIFFERS: Segment cuts "+" and the digits to 15 characters; tikstream drops more than 15 digits
    pytest.param("web", "phone", {"phone_policy": "e164"}, "1234567890123456", None,
                 id="segment-phone-cut-differs"),
    # RS-ads test/integrations/destinations/tiktok_ads/processor/data.ts Test 0: hashed phone and email passed on
    pytest.param("web", "phone", {}, "2f9d2b4df907e5c9a7b3434351b55700167b998a83dc479b825096486ffcf4ea",
                 "2f9d2b4df907e5c9a7b3434351b55700167b998a83dc479b825096486ffcf4ea", id="rudderstack-prehashed-phone"),
    # STAPE template.js: ^[A-Fa-f0-9]{64}$ is a hash; DIFFERS: tikstream lower-cases it (TikTok wants lower case)
    pytest.param("web", "email", {}, "DD6FF77F54E2106661089BAE4D40CDB600979BF7EDC9EB65C0942BA55C7C2D7F",
                 "dd6ff77f54e2106661089bae4d40cdb600979bf7edc9eb65c0942ba55c7c2d7f", id="stape-upper-hash"),
    # RS-ads util.js hashString: toString().trim() before hashing
    pytest.param("web", "external_id", {}, " id5 ", sha("id5"), id="rudderstack-external-id-trim"),
    # DIFFERS: SEG-conv formatUserId and STAPE lower-case external_id; tikstream keeps the case
    pytest.param("web", "external_id", {}, "User_123", sha("User_123"), id="segment-external-id-case-differs"),
    # SEG-conv utils.ts getUser: ttclid from the page URL wins over the mapped field (docs/tiktok-api.md §6.5 URL)
    pytest.param("web", "ttclid", {"source": {"url_param": "ttclid", "path": "user.v"}}, "E.C.P.field", "E.C.P.xxxx",
                 id="segment-ttclid-from-url"),
    # bububa track.go: ttp is the _ttp cookie, sent as it is
    pytest.param("web", "ttp", {}, "2F7h37YkS1j57AYSKTI7IHhJPYH", "2F7h37YkS1j57AYSKTI7IHhJPYH",
                 id="tiktok-ttp"),
    # bububa track.go: IPv6 full or compressed both accepted; tikstream sends the compressed form
    pytest.param("web", "ip", {}, "2001:0db8:1111:000a:00b0:0000:0000:0200", "2001:db8:1111:a:b0::200",
                 id="tiktok-ipv6"),
    pytest.param("web", "user_agent", {}, "Mozilla/5.0 (X11)", "Mozilla/5.0 (X11)", id="tiktok-user-agent"),
    pytest.param("web", "locale", {}, "en-US", "en-US", id="tiktok-locale-bcp47"),
    # HC-cf (docs/tiktok-api.md §2.3): the lower-case dashed MAID vector; SEG-app lower-cases and trims the IDFA
    pytest.param("app", "idfa", {}, " 5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25 ",
                 "83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd", id="tiktok-maid-vector-idfa"),
    # RS-ads TikTokTrackV2.json: gaid trimmed and lower-cased
    pytest.param("app", "gaid", {}, "5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25",
                 "83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd", id="rudderstack-gaid"),
    # SEG-app, RS-ads: Segment and RudderStack hash a non-UUID advertising id; tikstream with device_id_policy: any
    pytest.param("app", "gaid", {"device_id_policy": "any"}, "AB-12", sha("ab-12"), id="peers-any-gaid"),
    # DIFFERS: the default policy drops it (not a dashed UUID)
    pytest.param("app", "gaid", {}, "AB-12", None, id="peers-any-gaid-default-differs"),
    pytest.param("app", "idfv", {}, "ABC-1", "ABC-1", id="tiktok-idfv-plain"),
    # RS-ads: att_status upper-cased and validated
    pytest.param("app", "att_status", {}, "denied", "DENIED", id="rudderstack-att-status"),
    # SEG-conv formatter.ts formatString / STAPE: names lower-cased, spaces and punctuation removed, hashed
    pytest.param("web", "first_name", {}, " Mary Ann ", sha("maryann"), id="segment-first-name"),
    # RS-ads, STAPE: zip without spaces and dashes
    pytest.param("web", "zip_code", {}, "94103-1234", sha("941031234"), id="rudderstack-zip"),
    # SEG-conv formatAddress: lower case, letters and digits only, not hashed
    pytest.param("web", "city", {}, "San Francisco", "sanfrancisco", id="segment-city"),
]


@pytest.mark.parametrize(("kind", "field", "options", "raw", "expected"), USER_ROWS)
def test_user_fields(kind: str, field: str, options: dict[str, Any], raw: object, expected: str | None) -> None:
    options = dict(options)
    source = options.pop("source", "user.v")
    user = {"v": raw, "page": "https://shop.example/checkout?ttclid=E.C.P.xxxx"}
    got = built(kind, user, identifiers={field: source}, **options)["user"].get(field)
    if isinstance(got, list):
        (got,) = got
    assert got == expected


FILE_ROWS = [
    # HC-cf (docs/tiktok-api.md §2.3): customer-file vectors
    pytest.param("EMAIL_SHA256", "janedoe@gmail.com",
                 "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69", id="tiktok-file-email"),
    pytest.param("PHONE_SHA256", "374-93-828222",
                 "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4", id="tiktok-file-phone-digits"),
    pytest.param("IDFA_SHA256", "5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25",
                 "83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd", id="tiktok-file-maid"),
]


@pytest.mark.parametrize(("ctype", "raw", "expected"), FILE_ROWS)
def test_customer_file_vectors(ctype: str, raw: str, expected: str) -> None:
    assert audience_id_value(ctype, raw, None)[0] == expected


PROPERTY_ROWS = [
    # docs/tiktok-api.md §3.5: value a number; SEG PR #2089: a value of 0 is a value
    pytest.param({"value": "user.v"}, {"v": "46.0"}, {"value": 46.0}, id="tiktok-value-number"),
    pytest.param({"value": "user.v"}, {"v": 0}, {"value": 0}, id="segment-value-zero-kept"),
    pytest.param({"currency": "user.v"}, {"v": " usd "}, {"currency": "USD"}, id="tiktok-currency-iso"),
    # SEG-conv and RS-ads default content_type to product; tikstream sends it when mapped (DIFFERS: not implicit)
    pytest.param({"content_type": {"const": "product"}}, {}, {"content_type": "product"}, id="peers-content-type"),
    # RS-ads util.js getContents: product_id as a string content_id, name, price, quantity
    pytest.param({"contents": "user.v"}, {"v": [{"product_id": 1077218, "name": "socks", "price": 8, "quantity": 2}]},
                 {"contents": [{"content_id": "1077218", "content_name": "socks", "price": 8, "quantity": 2}]},
                 id="rudderstack-contents"),
    pytest.param({"content_ids": "user.v"}, {"v": ["987", 654]}, {"content_ids": ["987", "654"]},
                 id="tiktok-content-ids-strings"),
    # STAPE-10: TikTok refuses numeric ids; ids go as strings
    pytest.param({"order_id": "user.v"}, {"v": 1001}, {"order_id": "1001"}, id="stape-order-id-string"),
    # SEG-conv sends query and search_string; RS-ads maps query to search_string: one field, two targets
    pytest.param({"query": "user.v", "search_string": "user.v"}, {"v": "shoes"},
                 {"query": "shoes", "search_string": "shoes"}, id="segment-query-and-search-string"),
    # RS-ads processor Test 0: the cart [8 x 2, 30 x 1] has value 46 and 2 items
    pytest.param({"contents": "user.v", "num_items": {"derive": "count"}, "value": {"derive": "sum_price_quantity"}},
                 {"v": [{"price": 8, "quantity": 2}, {"price": 30, "quantity": 1}]},
                 {"contents": [{"price": 8, "quantity": 2}, {"price": 30, "quantity": 1}], "num_items": 2, "value": 46},
                 id="rudderstack-derived-value"),
    # SEG-conv utils.ts getAutoProps: mileage {unit, value}, preferred_price_range [min, max]
    pytest.param({"mileage.value": "user.km", "mileage.unit": {"const": "MI"}, "preferred_price_range": "user.r"},
                 {"km": 12000, "r": [10000, 20000]},
                 {"mileage": {"value": 12000, "unit": "MI"}, "preferred_price_range": [10000, 20000]},
                 id="segment-vehicle"),
    # SEG-conv travel_fields.ts: suggested_hotels a single string or an array of strings
    pytest.param({"suggested_hotels": "user.v", "checkin_date": "user.d", "num_adults": "user.n"},
                 {"v": "h-1", "d": "2026-12-24", "n": 2},
                 {"suggested_hotels": ["h-1"], "checkin_date": "2026-12-24", "num_adults": 2}, id="segment-travel"),
]


@pytest.mark.parametrize(("properties", "user", "expected"), PROPERTY_ROWS)
def test_properties(properties: dict[str, Any], user: dict[str, Any], expected: dict[str, Any]) -> None:
    assert built("web", user, properties=properties).get("properties") == expected


def test_event_id_from_the_input_as_the_peers_take_it() -> None:
    # RS-ads processor Test 0: properties.eventId "1616318632825_357" is the event_id; STAPE-10: a string
    event = built("web", {"eventId": "1616318632825_357"}, event_id_field="user.eventId")
    assert event["event_id"] == "1616318632825_357"
    assert built("web", {"eventId": 1616318632825}, event_id_field="user.eventId")["event_id"] == "1616318632825"
