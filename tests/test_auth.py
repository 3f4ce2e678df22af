from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tikstream.auth import (
    ACCEPTED_KINDS,
    AuthStore,
    EventsToken,
    OfflineToken,
    TikTokSignin,
    check_job_auth,
    load_authorizations,
    to_file_entry,
)
from tikstream.errors import AuthConfigError
from tikstream.jobs import JOB_MODELS, parse_job

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET = "s3cr3t-value-never-shown"

SIGNIN: dict[str, Any] = {"kind": "tiktok_signin", "access_token": SECRET, "app_id": "7310000000000000000",
                          "secret": SECRET + "-app"}  # fmt: skip
EVENTS: dict[str, Any] = {"kind": "events_token", "access_token": SECRET}
OFFLINE: dict[str, Any] = {"kind": "offline_token", "access_token": SECRET, "event_set_id": "1616318632825"}


def write(tmp_path: Path, document: object, name: str = "auth.json") -> Path:
    path = tmp_path / name
    path.write_bytes(document if isinstance(document, bytes) else orjson.dumps(document))
    return path


def entries(**named: dict[str, Any]) -> dict[str, Any]:
    return {"authorizations": {name.replace("_", "-"): entry for name, entry in named.items()}}


def test_example_auth_file_covers_every_example_job() -> None:
    auths = load_authorizations(EXAMPLES / "auth.json")
    assert {type(a) for a in auths.values()} == {TikTokSignin, EventsToken, OfflineToken}
    from tikstream.jobs import load_job_file

    for file in sorted(EXAMPLES.glob("*.yaml")):
        for job in load_job_file(file):
            assert check_job_auth(job, auths) == [], file.name


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(yaml.safe_dump(entries(tiktok_main=SIGNIN, pixel_token=EVENTS, store=OFFLINE)))
    auths = load_authorizations(path)
    assert sorted(auths) == ["pixel-token", "store", "tiktok-main"]
    signin = auths["tiktok-main"]
    assert isinstance(signin, TikTokSignin)
    assert signin.access_token.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            b'{"authorizations": {"a": {"kind": "events_token", "access_token": "' + SECRET.encode(),
            "not valid JSON (at line 1",
            id="invalid-json",
        ),
        pytest.param([SIGNIN], "expected an object with an 'authorizations' object", id="not-an-object"),
        pytest.param({}, "authorizations: is required", id="no-authorizations"),
        pytest.param(
            {"authorizations": {"a": EVENTS}, "extra": SECRET}, "extra: unknown field", id="extra-top"
        ),
        pytest.param(
            entries(a={**EVENTS, "kind": SECRET}),
            "authorizations.a.kind: is not a known value; expected "
            "one of 'tiktok_signin', 'events_token', 'offline_token'",
            id="unknown-kind",
        ),
        pytest.param(entries(a={"access_token": SECRET}), "authorizations.a.kind: is required", id="no-kind"),
        pytest.param(
            entries(a={"kind": "events_token"}), "authorizations.a.access_token: is required", id="no-token"
        ),
        pytest.param(
            entries(a={**EVENTS, "access_token": ""}),
            "authorizations.a.access_token: must have at least 1",
            id="empty-token",
        ),
        pytest.param(
            entries(a={**EVENTS, "access_token": 12345}),
            "authorizations.a.access_token: must be a valid string",
            id="token-not-string",
        ),
        pytest.param(
            entries(a={**EVENTS, "acess_token": SECRET}),
            "authorizations.a.acess_token: unknown field; did you mean 'access_token'?",
            id="misspelt-field",
        ),
        pytest.param(
            entries(a={k: v for k, v in OFFLINE.items() if k != "event_set_id"}),
            "authorizations.a.event_set_id: is required",
            id="offline-without-event-set",
        ),
        pytest.param(
            entries(a={k: v for k, v in SIGNIN.items() if k != "secret"}),
            "authorizations.a.secret: is required",
            id="signin-without-secret",
        ),
        pytest.param(
            entries(a={**EVENTS, "pixel_code": "C4ABCDEF", "app_id": "123"}),
            "one pixel_code, one app_id or one event_set_id, not several",
            id="events-two-scopes",
        ),
        pytest.param(
            {"authorizations": {"Tiktok Main": SIGNIN}},
            "authorizations.Tiktok Main: must be 1 to 64",
            id="bad-name",
        ),
        pytest.param(
            entries(a={**OFFLINE, "event_set_id": 1616318632825}), "quote it", id="event-set-number"
        ),
    ],
)
def test_invalid_files_never_echo_secrets(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(AuthConfigError) as caught:
        load_authorizations(path)
    assert message in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None  # no chained pydantic error to print the input


def test_invalid_yaml_gives_a_position_not_the_line(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(f'authorizations:\n  a:\n    kind: events_token\n    access_token: "{SECRET}\n')
    with pytest.raises(AuthConfigError) as caught:
        load_authorizations(path)
    assert "not valid YAML (at line" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="does not exist"):
        load_authorizations(tmp_path / "nope.json")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_authorizations(tmp_path)  # a directory


def test_secrets_never_in_repr_or_str(tmp_path: Path) -> None:
    auths = load_authorizations(write(tmp_path, entries(a=SIGNIN, b=EVENTS, c=OFFLINE)))
    for auth in auths.values():
        for text in (repr(auth), str(auth), auth.model_dump_json(), repr(auth.model_dump()), repr(auths)):
            assert SECRET not in text


def test_to_file_entry_reveals_and_round_trips(tmp_path: Path) -> None:
    signin = {**SIGNIN, "advertiser_ids": ["7000000000000000000"]}
    auths = load_authorizations(write(tmp_path, entries(a=signin, b=EVENTS, c=OFFLINE)))
    assert to_file_entry(auths["a"]) == signin
    document = {"authorizations": {name: to_file_entry(a) for name, a in auths.items()}}
    assert load_authorizations(write(tmp_path, document, "again.json")) == auths


# --- compatibility with job types (docs/architecture.md §5) ---------------------------------------------

JOBS: dict[str, dict[str, Any]] = {
    "audience_export": {
        "id": "aud", "type": "audience_export", "auth": "a", "audience": "vip",
        "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"},
    },
    "web_events": {
        "id": "web", "type": "web_events", "auth": "a", "audiences": ["vip"], "pixel_code": "C4ABCDEF",
        "event_name": "Purchase", "page_url_field": "user.url", "identifiers": {"user_id": "external_id"},
    },
    "app_events": {
        "id": "app", "type": "app_events", "auth": "a", "audiences": ["vip"], "app_id": "720",
        "app_name": "Shop", "event_name": "Purchase", "identifiers": {"user.idfa": "idfa"},
    },
    "offline_events": {
        "id": "off", "type": "offline_events", "auth": "a", "audiences": ["vip"],
        "event_set_id": "1616318632825", "event_name": "Purchase", "identifiers": {"user.email": "email"},
    },
    "crm_events": {
        "id": "crm", "type": "crm_events", "auth": "a", "audiences": ["vip"], "event_set_id": "7300",
        "event_name": "QualifiedLead", "lead_id_field": "user.lead_id", "lead_event_source": "HubSpot",
        "identifiers": {"user.email": "email"},
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("job_type", "entry", "path", "message"),
    [
        pytest.param("audience_export", SIGNIN, None, "", id="audience-signin"),
        pytest.param("audience_export", EVENTS, "auth", "needs a tiktok_signin", id="audience-events-token"),
        pytest.param(
            "audience_export", OFFLINE, "auth", "needs a tiktok_signin", id="audience-offline-token"
        ),
        pytest.param(
            "audience_export",
            {**SIGNIN, "advertiser_ids": ["7000000000000000000"]},
            None,
            "",
            id="audience-signin-covers-advertiser",
        ),
        pytest.param(
            "audience_export",
            {**SIGNIN, "advertiser_ids": ["7111"]},
            "advertiser_id",
            "may not manage advertiser 7000000000000000000",
            id="audience-signin-other-advertiser",
        ),
        pytest.param("web_events", EVENTS, None, "", id="web-events-token"),
        pytest.param("web_events", SIGNIN, None, "", id="web-signin"),
        pytest.param("web_events", OFFLINE, "auth", "an events_token or a tiktok_signin", id="web-offline-token"),
        pytest.param("web_events", {**EVENTS, "pixel_code": "C4ABCDEF"}, None, "", id="web-token-for-pixel"),
        pytest.param(
            "web_events",
            {**EVENTS, "pixel_code": "OTHER123"},
            "auth",
            "for pixel OTHER123 only",
            id="web-token-for-other-pixel",
        ),
        pytest.param(
            "web_events", {**EVENTS, "app_id": "720"}, "auth", "for app 720 only", id="web-token-for-app"
        ),
        pytest.param("app_events", EVENTS, None, "", id="app-events-token"),
        pytest.param("app_events", SIGNIN, None, "", id="app-signin"),
        pytest.param("app_events", OFFLINE, "auth", "an events_token or a tiktok_signin", id="app-offline-token"),
        pytest.param("app_events", {**EVENTS, "app_id": "720"}, None, "", id="app-token-for-app"),
        pytest.param(
            "app_events", {**EVENTS, "app_id": "721"}, "auth", "for app 721 only", id="app-token-other-app"
        ),
        pytest.param(
            "app_events", {**EVENTS, "pixel_code": "C4ABCDEF"}, "auth", "pixel", id="app-token-for-pixel"
        ),
        pytest.param("offline_events", OFFLINE, None, "", id="offline-same-event-set"),
        pytest.param(
            "offline_events",
            {**OFFLINE, "event_set_id": "999"},
            "auth",
            "is for event set 999, not 1616318632825",
            id="offline-other-event-set",
        ),
        pytest.param("offline_events", SIGNIN, None, "", id="offline-signin"),
        pytest.param(
            "offline_events", EVENTS, "auth",
            "'a' is an events_token; an offline_events job needs an offline_token or a tiktok_signin",
            id="offline-events",
        ),
        pytest.param(
            "audience_export", EVENTS, "auth", "'a' is an events_token; an audience_export job needs a tiktok_signin",
            id="audience-events-token-grammar",
        ),
        pytest.param("crm_events", {**EVENTS, "event_set_id": "7300"}, None, "", id="crm-token-for-event-set"),
        pytest.param("crm_events", SIGNIN, None, "", id="crm-signin"),
        pytest.param(
            "crm_events", EVENTS, "auth",
            "'a' names no event_set_id: a crm_events job takes an events_token scoped to its event set "
            "(event_set_id: '7300') or a tiktok_signin",
            id="crm-unscoped-events-token",
        ),
        pytest.param("crm_events", {**EVENTS, "event_set_id": "7301"}, "auth", "'a' is for event set 7301",
                     id="crm-token-for-other-event-set"),
        pytest.param("crm_events", {**EVENTS, "pixel_code": "C4ABCDEF"}, "auth", "'a' names no event_set_id",
                     id="crm-token-for-pixel"),
        pytest.param("crm_events", OFFLINE, "auth",
                     "'a' is an offline_token; a crm_events job needs an events_token or a tiktok_signin",
                     id="crm-offline-token"),
        pytest.param("web_events", {**EVENTS, "event_set_id": "7300"}, "auth", "for crm event set 7300 only",
                     id="web-token-for-crm-event-set"),
    ],
)
def test_check_job_auth(
    tmp_path: Path, job_type: str, entry: dict[str, Any], path: str | None, message: str
) -> None:
    auths = load_authorizations(write(tmp_path, entries(a=entry)))
    errors = check_job_auth(parse_job(JOBS[job_type]), auths)
    if path is None:
        assert errors == []
    else:
        assert [e.path for e in errors] == [path]
        assert message in errors[0].message
        assert SECRET not in str(errors[0])


@pytest.mark.parametrize("job_type", sorted(JOBS))
def test_missing_authorization(job_type: str) -> None:
    (error,) = check_job_auth(parse_job(JOBS[job_type]), {})
    assert (error.path, error.message) == ("auth", "no authorization named 'a' in the authorization file")


def test_accepted_kinds_cover_every_job_type() -> None:
    assert set(ACCEPTED_KINDS) == set(JOB_MODELS) == set(JOBS)


# --- AuthStore ----------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_of(store: AuthStore, name: str = "a") -> str:
    auth = store.get(name)
    assert auth is not None
    return auth.access_token.get_secret_value()


def test_store_reloads_on_change_only(tmp_path: Path) -> None:
    clock = Clock()
    path = write(tmp_path, entries(a={**EVENTS, "access_token": "old"}))
    store = AuthStore(path, clock=clock, min_interval=1.0)
    assert (token_of(store), store.version, store.last_error) == ("old", 1, None)
    assert store.refresh() is False  # within min_interval: not even a stat
    clock.now += 1
    assert store.refresh() is False  # unchanged file
    write(tmp_path, entries(a={**EVENTS, "access_token": "newer"}))
    assert store.refresh() is False  # changed, but looked at less than min_interval ago
    clock.now += 1
    assert store.refresh() is True
    assert (token_of(store), store.version) == ("newer", 2)
    assert store.get("missing") is None and set(store.snapshot()) == {"a"}


def test_store_keeps_last_good_authorizations(tmp_path: Path) -> None:
    clock = Clock()
    path = write(tmp_path, entries(a=EVENTS))
    store = AuthStore(path, clock=clock)
    path.write_text('{"authorizations": {"a": {"kind": "events_token", "access_token": "' + SECRET + '"')
    clock.now += 5
    assert store.refresh() is False
    assert token_of(store) == SECRET and store.last_error is not None
    assert SECRET not in str(store.last_error)
    path.unlink()
    clock.now += 5
    assert store.refresh() is False and token_of(store) == SECRET
    assert "does not exist" in str(store.last_error)
    write(tmp_path, entries(a={**EVENTS, "access_token": "fixed"}))
    clock.now += 5
    assert store.refresh() is True
    assert token_of(store) == "fixed" and store.last_error is None


def test_store_rereads_after_max_age_even_with_the_same_stamp(tmp_path: Path) -> None:
    clock = Clock()
    path = write(tmp_path, entries(a={**EVENTS, "access_token": "one"}))
    stat = os.stat(path)
    store = AuthStore(path, clock=clock, min_interval=1.0, max_age=60.0)
    with path.open("r+b") as f:  # same size, same inode, mtime put back: a change the stamp cannot see
        f.write(path.read_bytes().replace(b'"one"', b'"two"'))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    clock.now += 30
    assert store.refresh() is False and token_of(store) == "one"
    clock.now += 31
    assert store.refresh() is True and token_of(store) == "two"


def test_store_required_file(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="does not exist"):
        AuthStore(tmp_path / "auth.json")
    store = AuthStore(tmp_path / "auth.json", required=False, clock=Clock())
    assert store.snapshot() == {} and store.last_error is not None and store.version == 0


def test_store_is_safe_across_threads(tmp_path: Path) -> None:
    path = write(tmp_path, entries(a=EVENTS, b=OFFLINE))
    store = AuthStore(path, min_interval=0.0)
    seen: list[bool] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(store.get("a") is not None and store.get("b") is not None)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(50):
        write(tmp_path, entries(a={**EVENTS, "access_token": f"t{i}"}, b=OFFLINE))
        store.refresh()
    stop.set()
    for t in threads:
        t.join()
    assert seen and all(seen)
    assert token_of(store) == "t49"
