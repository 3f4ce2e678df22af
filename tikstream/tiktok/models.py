"""Small typed results of TikTok API calls: the envelope (§1.3), audiences (§2.6, §2.7), OAuth (§4).

Parsing is lenient about missing optional fields (TikTok adds and drops fields between versions) and strict
about the envelope itself: a body without an integer ``code`` is not an envelope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import SecretStr

__all__ = [
    "Advertiser",
    "AudienceDetails",
    "AudienceHistory",
    "AudienceStatus",
    "Envelope",
    "MalformedEnvelope",
    "PageInfo",
    "TokenGrant",
    "parse_envelope",
]

AudienceStatus = Literal["ready", "processing", "expired", "failed"]
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class MalformedEnvelope(ValueError):
    """The body is not ``{code, message, request_id, data}``."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """TikTok's answer: ``code`` 0 is success, 20001 partial success, anything else an error."""

    code: int
    message: str
    request_id: str
    data: Mapping[str, Any] = field(default_factory=dict)


def parse_envelope(body: bytes) -> Envelope:
    """Parse a response body; raises ``MalformedEnvelope`` when it is not JSON or has no integer ``code``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedEnvelope(f"body is not JSON ({len(body)} bytes)") from exc
    if not isinstance(doc, dict):
        raise MalformedEnvelope("body is not a JSON object")
    code = doc.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, bool) or not isinstance(code, int):
        raise MalformedEnvelope("body has no integer 'code'")
    data = doc.get("data")
    return Envelope(
        code=code,
        message=str(doc.get("message") or ""),
        request_id=str(doc.get("request_id") or ""),
        data=data if isinstance(data, dict) else {},
    )


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _int(value: object) -> int:
    try:
        return int(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else 0
    except ValueError:
        return 0


def parse_time(value: object) -> dt.datetime | None:
    """TikTok's ``YYYY-MM-DD HH:MM:SS`` (read as UTC), or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class AudienceHistory:
    action: str
    action_detail: str
    editor: str
    msg: str
    opt_time: str

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> AudienceHistory:
        return cls(*(_str(item.get(k)) for k in ("action", "action_detail", "editor", "msg", "opt_time")))


@dataclass(frozen=True, slots=True)
class AudienceDetails:
    """One custom audience as ``/dmp/custom_audience/get/`` (or ``list/``) describes it."""

    audience_id: str
    name: str
    calculate_type: str
    cover_num: int
    is_valid: bool
    is_expiring: bool
    expired_time: dt.datetime | None
    create_time: dt.datetime | None
    msg: str
    error_msg: str
    audience_type: str = ""
    audience_sub_type: str = ""
    is_creator: bool | None = None
    history: tuple[AudienceHistory, ...] = ()

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> AudienceDetails:
        """From a ``get/`` item (``{audience_details, audience_history}``) or a flat ``list/`` item."""
        details = item.get("audience_details")
        d: Mapping[str, Any] = details if isinstance(details, dict) else item
        history = item.get("audience_history")
        creator = d.get("is_creator")
        return cls(
            audience_id=_str(d.get("audience_id") or d.get("custom_audience_id")),
            name=_str(d.get("name")),
            calculate_type=_str(d.get("calculate_type")),
            cover_num=_int(d.get("cover_num")),
            is_valid=bool(d.get("is_valid")),
            is_expiring=bool(d.get("is_expiring")),
            expired_time=parse_time(d.get("expired_time")),
            create_time=parse_time(d.get("create_time")),
            msg=_str(d.get("msg")),
            error_msg=_str(d.get("error_msg")),
            audience_type=_str(d.get("type") or d.get("audience_type")),
            audience_sub_type=_str(d.get("audience_sub_type")),
            is_creator=None if creator is None else bool(creator),
            history=tuple(AudienceHistory.parse(h) for h in history if isinstance(h, dict))
            if isinstance(history, list) else (),
        )

    def status(self, now: dt.datetime) -> AudienceStatus:
        """The practical reading of docs/tiktok-api.md §2.6 (TikTok has no explicit status field)."""
        if self.error_msg:
            return "failed"
        if self.expired_time is not None and self.expired_time <= now:
            return "expired"
        return "ready" if self.is_valid else "processing"


@dataclass(frozen=True, slots=True)
class PageInfo:
    page: int
    page_size: int
    total_number: int
    total_page: int

    @classmethod
    def parse(cls, item: object) -> PageInfo:
        d: Mapping[str, Any] = item if isinstance(item, dict) else {}
        return cls(*(_int(d.get(k)) for k in ("page", "page_size", "total_number", "total_page")))


@dataclass(frozen=True, slots=True)
class Advertiser:
    advertiser_id: str
    advertiser_name: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """The result of an OAuth code exchange (§4.1). ``access_token`` hides itself in repr and str."""

    access_token: SecretStr
    advertiser_ids: tuple[str, ...]
    scope: tuple[int, ...]
