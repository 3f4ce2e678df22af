"""Access tokens and what each kind may do (docs/tiktok-api.md §1.2, §4.4; docs/architecture.md §5 for the file format).

Without a tokens file the emulator is *open*: any non-empty ``Access-Token`` works for everything. With one,
only its tokens (plus tokens minted by the OAuth flow or added through ``POST /_emulator/tokens``) work:

- ``events_token``: ``/event/track/`` for web, app and crm; with ``pixel_code`` only web events of that pixel,
  with ``app_id`` only app events of that TikTok App ID, with ``event_set_id`` only crm events of that CRM event
  set. No audience calls.
- ``offline_token``: ``/event/track/`` for its ``event_set_id`` with ``event_source`` offline only.
- ``tiktok_signin``: any event and every audience call; with ``advertiser_ids``, only those advertisers.

A missing token answers 40104, an unknown or revoked one 40105, a token used beyond its kind 40001.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from tikstream.emulator.envelope import (
    MSG_TOKEN_INVALID,
    MSG_TOKEN_MISSING,
    NO_PERMISSION,
    TOKEN_INVALID,
    TOKEN_MISSING,
    ApiError,
)

OPEN: Final = "open"
EVENTS: Final = "events_token"
OFFLINE: Final = "offline_token"
SIGNIN: Final = "tiktok_signin"
KINDS: Final = (EVENTS, OFFLINE, SIGNIN)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one token may do. ``app_id``/``secret`` are the developer app's (``tiktok_signin`` only)."""

    kind: str
    pixel_code: str | None = None
    scope_app_id: str | None = None
    event_set_id: str | None = None
    advertiser_ids: frozenset[str] | None = None
    app_id: str | None = None
    secret: str | None = None


OPEN_GRANT: Final = Grant(kind=OPEN)


def _opt_str(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise ValueError(f"{where}.{key}: must be a non-empty string")
    return str(value)


def grant_from_entry(entry: Mapping[str, Any], where: str) -> Grant:
    """One authorization entry (``{kind, ...}``) as a ``Grant``; raises ``ValueError`` naming the field."""
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind: must be one of {', '.join(KINDS)}")
    if kind == EVENTS:
        pixel, app = _opt_str(entry, "pixel_code", where), _opt_str(entry, "app_id", where)
        crm = _opt_str(entry, "event_set_id", where)
        if len([scope for scope in (pixel, app, crm) if scope]) > 1:
            raise ValueError(f"{where}: an events_token is scoped to one pixel_code, app_id or event_set_id")
        return Grant(kind=EVENTS, pixel_code=pixel, scope_app_id=app, event_set_id=crm)
    if kind == OFFLINE:
        event_set = _opt_str(entry, "event_set_id", where)
        if event_set is None:
            raise ValueError(f"{where}.event_set_id: required for an offline_token")
        return Grant(kind=OFFLINE, event_set_id=event_set)
    advertisers = entry.get("advertiser_ids")
    if advertisers is not None and (
        not isinstance(advertisers, list) or not all(isinstance(a, str | int) for a in advertisers)
    ):
        raise ValueError(f"{where}.advertiser_ids: must be a list of strings")
    return Grant(
        kind=SIGNIN,
        advertiser_ids=None if advertisers is None else frozenset(str(a) for a in advertisers),
        app_id=_opt_str(entry, "app_id", where),
        secret=_opt_str(entry, "secret", where),
    )


def load_auth_file(path: Path) -> dict[str, Grant]:
    """Token -> Grant from an auth file (JSON or YAML: ``{"authorizations": {name: {kind, ...}}}``)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = document.get("authorizations") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: expected an object with an 'authorizations' object")
    grants: dict[str, Grant] = {}
    for name, entry in entries.items():
        where = f"authorizations.{name}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be an object")
        token = _opt_str(entry, "access_token", where)
        if token is None:
            raise ValueError(f"{where}.access_token: required")
        grants[token] = grant_from_entry(entry, where)
    return grants


class TokenRegistry:
    """Resolves ``Access-Token`` values to grants. ``grants=None`` makes it open (any non-empty token)."""

    def __init__(self, grants: dict[str, Grant] | None) -> None:
        self.open = grants is None
        self._grants: dict[str, Grant] = dict(grants or {})
        self._revoked: set[str] = set()

    def resolve(self, token: str | None) -> Grant:
        if not token:
            raise ApiError(TOKEN_MISSING, MSG_TOKEN_MISSING)
        if token in self._revoked:
            raise ApiError(TOKEN_INVALID, MSG_TOKEN_INVALID)
        grant = self._grants.get(token)
        if grant is not None:
            return grant
        if self.open:
            return OPEN_GRANT
        raise ApiError(TOKEN_INVALID, MSG_TOKEN_INVALID)

    def add(self, token: str, grant: Grant) -> None:
        self._revoked.discard(token)
        self._grants[token] = grant

    def revoke(self, token: str) -> None:
        self._revoked.add(token)

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for grant in self._grants.values():
            kinds[grant.kind] = kinds.get(grant.kind, 0) + 1
        return {"open": self.open, "tokens_by_kind": kinds, "revoked": len(self._revoked)}


def allow_events(grant: Grant, source: str, source_id: str) -> None:
    """Raise 40001 unless ``grant`` may post events for (``source``, ``source_id``)."""
    if grant.kind in (OPEN, SIGNIN):
        return
    if grant.kind == OFFLINE:
        allowed = source == "offline" and source_id == grant.event_set_id
    elif grant.pixel_code is not None:
        allowed = source == "web" and source_id == grant.pixel_code
    elif grant.scope_app_id is not None:
        allowed = source == "app" and source_id == grant.scope_app_id
    elif grant.event_set_id is not None:
        allowed = source == "crm" and source_id == grant.event_set_id
    else:
        allowed = source in ("web", "app", "crm")
    if not allowed:
        raise ApiError(
            NO_PERMISSION,
            f"No permission to operate {source} event source: {source_id}. This {grant.kind} does not cover it.",
        )


def allow_advertiser(grant: Grant, advertiser_id: str) -> None:
    """Raise 40001 unless ``grant`` may manage audiences of ``advertiser_id``."""
    if grant.kind == OPEN:
        return
    if grant.kind == SIGNIN and (grant.advertiser_ids is None or advertiser_id in grant.advertiser_ids):
        return
    raise ApiError(
        NO_PERMISSION,
        f"No permission to operate advertiser: {advertiser_id}. "
        "You must be an admin or operator of this advertiser account.",
    )


def allow_advertiser_listing(grant: Grant) -> None:
    """Raise 40001 unless ``grant`` is a Marketing API token (or the emulator is open)."""
    if grant.kind not in (OPEN, SIGNIN):
        raise ApiError(NO_PERMISSION, f"No permission: a {grant.kind} is not a Marketing API access token.")
