"""``TikTokClient``: the TikTok Business API v1.3 calls tikstream makes (docs/tiktok-api.md §2, §3.1, §4).

The only place that speaks HTTP. Every method sends through ``Caller`` (``transport.py``): ``Access-Token``
header, envelope parsed on every answer, codes classified (``errors.classify``), retries with capped
exponential backoff and full jitter, a rate limiter per access token.

What each method may raise: ``ReauthorizeError`` (the token must be replaced), ``PermanentError`` (including
``AudienceTooSmallError``), ``AudienceBusyError`` (poll ``get_audiences`` and try later) at once, without
retrying; ``RetryableError`` (``ThrottledError``, ``TransportError``) once the retry policy is spent;
``ValueError`` for arguments that could never be valid (checked before anything is sent). Methods block
(rate limiter, backoff, network) and are safe to call from several threads at once.

Not guaranteed: a retried ``create_audience`` whose first attempt reached TikTok but whose answer was lost
creates a second audience; a retried ``exchange_auth_code`` then fails because auth codes are single-use.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import httpx
import orjson
from pydantic import SecretStr

from tikstream.metrics import Metrics
from tikstream.tiktok.errors import PermanentError
from tikstream.tiktok.models import Advertiser, AudienceDetails, Envelope, PageInfo, TokenGrant
from tikstream.tiktok.ratelimit import RateLimiter
from tikstream.tiktok.retry import DEFAULT_RETRY, RetryPolicy
from tikstream.tiktok.transport import Call, Caller, FilePart, install_log_redaction, token_fingerprint

__all__ = ["ENDPOINTS", "TikTokClient"]

EVENT_TRACK: Final = "event/track/"
FILE_UPLOAD: Final = "dmp/custom_audience/file/upload/"
AUDIENCE_CREATE: Final = "dmp/custom_audience/create/"
AUDIENCE_UPDATE: Final = "dmp/custom_audience/update/"
AUDIENCE_GET: Final = "dmp/custom_audience/get/"
AUDIENCE_LIST: Final = "dmp/custom_audience/list/"
AUDIENCE_DELETE: Final = "dmp/custom_audience/delete/"
SEGMENT_AUDIENCE: Final = "segment/audience/"
SEGMENT_MAPPING: Final = "segment/mapping/"
OAUTH_TOKEN: Final = "oauth2/access_token/"
ADVERTISER_GET: Final = "oauth2/advertiser/get/"
ENDPOINTS: Final = (EVENT_TRACK, FILE_UPLOAD, AUDIENCE_CREATE, AUDIENCE_UPDATE, AUDIENCE_GET, AUDIENCE_LIST,
                    AUDIENCE_DELETE, SEGMENT_AUDIENCE, SEGMENT_MAPPING, OAUTH_TOKEN, ADVERTISER_GET)

MAX_IDS_PER_REQUEST: Final = 100  # get/ and delete/ take 1..100 audience ids
MAX_FILE_PATHS: Final = 500
MAX_SEGMENT_NAME: Final = 70  # longer names are cut by TikTok (§2.9)
SEGMENT_ACTIONS: Final = ("add", "delete")
UpdateAction = Literal["APPEND", "REMOVE", "REPLACE"]


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield [str(i) for i in ids[start:start + size]]


class TikTokClient:
    """A pooled, thread-safe client for the TikTok calls tikstream needs; use ``with`` or ``close()``."""

    def __init__(
        self,
        base_url: str,
        *,
        metrics: Metrics | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        max_connections: int = 20,
    ) -> None:
        """``base_url`` ends in ``/open_api/v1.3``; ``timeout`` (seconds) bounds each attempt. Also attaches a
        filter to the ``httpx`` logger that drops query strings from its lines (they may carry the secret)."""
        install_log_redaction()
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": "tikstream"},
            follow_redirects=False,
        )
        self.limiter = limiter if limiter is not None else RateLimiter(
            clock=clock, sleep=sleep, min_throttles=3, throttle_fraction=0.25)  # isolated 40100s: no slow-down
        self._caller = Caller(self._http, metrics=metrics, retry=retry, limiter=self.limiter,
                              clock=clock, sleep=sleep, rand=rand)

    def close(self) -> None:
        """Close the pool. Calls waiting out a retry backoff on other threads give up at once with a
        ``TransportError`` (their batches stay owed and are sent again after a restart)."""
        self._caller.closing.set()
        self._http.close()

    def __enter__(self) -> TikTokClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TikTokClient(base_url={str(self._http.base_url)!r})"

    # -- Events API 2.0 -------------------------------------------------------------------------------------

    def track_events(self, token: str, body: bytes | Mapping[str, Any]) -> Envelope:
        """POST ``event/track/``. ``body`` is the JSON document, or its bytes already serialised.

        Returns the envelope: code 0, or 20001 (partial success, logged; ``message`` and ``data`` say more).
        """
        content = body if isinstance(body, bytes) else _json(dict(body))
        return self._post_json(EVENT_TRACK, token, content)

    # -- Custom audiences (customer file API) ---------------------------------------------------------------

    def upload_audience_file(self, token: str, advertiser_id: str, calculate_type: str,
                             path_or_bytes: str | os.PathLike[str] | bytes,
                             filename: str | None = None) -> str:
        """Upload one audience file (multipart, ``file_signature`` = MD5 hex); returns ``data.file_path``.

        A path is streamed from disk on every attempt, never held in memory. ``filename`` (default: the path's
        name) must end in ``.csv`` or ``.txt``; ``OSError`` if the path cannot be read.
        """
        source = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes)
        name = filename if filename is not None else (source.name if isinstance(source, Path) else "")
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix not in ("csv", "txt"):
            raise ValueError("an audience file name must end in .csv or .txt")
        signature = _md5(source)
        form = {"advertiser_id": str(advertiser_id), "calculate_type": calculate_type,
                "file_signature": signature}
        part = FilePart(name, source, "text/csv" if suffix == "csv" else "text/plain")
        envelope = self._caller.call(Call("POST", FILE_UPLOAD, token_fingerprint(token), token=token,
                                          form=form, file=part, secrets=(token,)))
        return _required_str(envelope, "file_path", FILE_UPLOAD)

    def create_audience(self, token: str, advertiser_id: str, name: str, calculate_type: str,
                        file_paths: Sequence[str], retention_in_days: int | None = None) -> str:
        """POST ``dmp/custom_audience/create/``; returns the new ``custom_audience_id``."""
        if not 1 <= len(name) <= 128:
            raise ValueError("custom_audience_name must have 1 to 128 characters")
        _check_file_paths(file_paths)
        body: dict[str, Any] = {"advertiser_id": str(advertiser_id), "custom_audience_name": name,
                                "calculate_type": calculate_type, "file_paths": list(file_paths)}
        if retention_in_days is not None:
            if not 1 <= retention_in_days <= 365:
                raise ValueError("retention_in_days must be between 1 and 365")
            body["retention_in_days"] = retention_in_days
        envelope = self._post_json(AUDIENCE_CREATE, token, _json(body))
        return _required_str(envelope, "custom_audience_id", AUDIENCE_CREATE)

    def update_audience(self, token: str, advertiser_id: str, audience_id: str, action: UpdateAction,
                        file_paths: Sequence[str]) -> None:
        """POST ``dmp/custom_audience/update/``, ``action`` always explicit (TikTok defaults to REPLACE)."""
        if action not in ("APPEND", "REMOVE", "REPLACE"):
            raise ValueError("action must be APPEND, REMOVE or REPLACE")
        _check_file_paths(file_paths)
        body = {"advertiser_id": str(advertiser_id), "custom_audience_id": str(audience_id),
                "action": action, "file_paths": list(file_paths)}
        self._post_json(AUDIENCE_UPDATE, token, _json(body))

    def get_audiences(self, token: str, advertiser_id: str,
                      audience_ids: Sequence[str]) -> list[AudienceDetails]:
        """GET ``dmp/custom_audience/get/`` (ids as a JSON array, 100 per request), in TikTok's order."""
        found: list[AudienceDetails] = []
        for chunk in _chunks(audience_ids, MAX_IDS_PER_REQUEST):
            params = {"advertiser_id": str(advertiser_id), "custom_audience_ids": _json(chunk).decode()}
            envelope = self._get(AUDIENCE_GET, token, params)
            found.extend(AudienceDetails.parse(item) for item in _items(envelope))
        return found

    def list_audiences(self, token: str, advertiser_id: str,
                       page_size: int = 100) -> Iterator[AudienceDetails]:
        """GET ``dmp/custom_audience/list/`` page by page (``page_info``), lazily."""
        if not 1 <= page_size <= MAX_IDS_PER_REQUEST:
            raise ValueError("page_size must be between 1 and 100")
        page = 1
        while True:
            params = {"advertiser_id": str(advertiser_id), "page": str(page), "page_size": str(page_size)}
            envelope = self._get(AUDIENCE_LIST, token, params)
            items = _items(envelope)
            yield from (AudienceDetails.parse(item) for item in items)
            info = PageInfo.parse(envelope.data.get("page_info"))
            if not items or page >= info.total_page:
                return
            page += 1

    def delete_audiences(self, token: str, advertiser_id: str, ids: Sequence[str]) -> None:
        """POST ``dmp/custom_audience/delete/``, 100 ids per request."""
        for chunk in _chunks(ids, MAX_IDS_PER_REQUEST):
            body = {"advertiser_id": str(advertiser_id), "custom_audience_ids": chunk}
            self._post_json(AUDIENCE_DELETE, token, _json(body))

    # -- Segment (streaming) audiences ---------------------------------------------------------------------

    def create_segment_audience(self, token: str, advertiser_id: str, name: str) -> str:
        """POST ``segment/audience/`` with ``action: create``; returns ``data.audience_id`` (§2.9, §6.4).

        ``name`` must have 1 to 70 characters (TikTok cuts longer ones, so a lookup by name would miss)."""
        if not 1 <= len(name) <= MAX_SEGMENT_NAME:
            raise ValueError(f"custom_audience_name must have 1 to {MAX_SEGMENT_NAME} characters")
        body = {"advertiser_id": str(advertiser_id), "action": "create", "custom_audience_name": name}
        envelope = self._post_json(SEGMENT_AUDIENCE, token, _json(body))
        return _required_str(envelope, "audience_id", SEGMENT_AUDIENCE)

    def segment_mapping(self, token: str, body: Mapping[str, Any]) -> None:
        """POST ``segment/mapping/``: add or delete the rows of ``body`` (``advertiser_ids``, ``action``,
        ``id_schema``, ``batch_data``; §2.9, §6.4). The shape is checked before sending: ``action`` add or
        delete, a non-empty ``id_schema`` without duplicates, every row as long as ``id_schema``."""
        if body.get("action") not in SEGMENT_ACTIONS:
            raise ValueError("action must be add or delete")
        schema = body.get("id_schema")
        if not isinstance(schema, list) or not schema or len(set(schema)) != len(schema):
            raise ValueError("id_schema must be a non-empty list without duplicates")
        rows = body.get("batch_data")
        if not isinstance(rows, list) or not rows or any(len(row) != len(schema) for row in rows):
            raise ValueError("batch_data must be a non-empty list of rows as long as id_schema")
        self._post_json(SEGMENT_MAPPING, token, _json(dict(body)))

    # -- OAuth ----------------------------------------------------------------------------------------------

    def exchange_auth_code(self, app_id: str, secret: str, auth_code: str) -> TokenGrant:
        """POST ``oauth2/access_token/`` (no ``Access-Token`` header): long-lived token and advertisers."""
        body = _json({"app_id": app_id, "secret": secret, "auth_code": auth_code})
        envelope = self._caller.call(Call("POST", OAUTH_TOKEN, f"app:{app_id}", json=body,
                                          secrets=(secret, auth_code)))
        token = _required_str(envelope, "access_token", OAUTH_TOKEN)
        ids = envelope.data.get("advertiser_ids") or []
        scope = envelope.data.get("scope") or []
        return TokenGrant(access_token=SecretStr(token), advertiser_ids=tuple(str(i) for i in ids),
                          scope=tuple(int(s) for s in scope if str(s).lstrip("-").isdigit()))

    def list_advertisers(self, token: str, app_id: str, secret: str) -> list[Advertiser]:
        """GET ``oauth2/advertiser/get/``: the advertisers this token can manage."""
        envelope = self._caller.call(Call("GET", ADVERTISER_GET, token_fingerprint(token), token=token,
                                          params={"app_id": app_id, "secret": secret},
                                          secrets=(token, secret)))
        return [Advertiser(str(i.get("advertiser_id", "")), str(i.get("advertiser_name", "")))
                for i in _items(envelope)]

    # -- helpers --------------------------------------------------------------------------------------------

    def _post_json(self, endpoint: str, token: str, content: bytes) -> Envelope:
        return self._caller.call(Call("POST", endpoint, token_fingerprint(token), token=token, json=content,
                                      secrets=(token,)))

    def _get(self, endpoint: str, token: str, params: Mapping[str, str]) -> Envelope:
        return self._caller.call(Call("GET", endpoint, token_fingerprint(token), token=token, params=params,
                                      secrets=(token,)))


def _md5(source: bytes | Path) -> str:
    if isinstance(source, bytes):
        return hashlib.md5(source).hexdigest()  # TikTok's file_signature, not for security
    digest = hashlib.md5()
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file_paths(file_paths: Sequence[str]) -> None:
    if isinstance(file_paths, str) or not 1 <= len(file_paths) <= MAX_FILE_PATHS:
        raise ValueError(f"file_paths must be a list of 1 to {MAX_FILE_PATHS} file paths")


def _items(envelope: Envelope) -> list[Mapping[str, Any]]:
    items = envelope.data.get("list")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _required_str(envelope: Envelope, key: str, endpoint: str) -> str:
    value = envelope.data.get(key)
    if value is None or value == "":
        raise PermanentError(f"answer has no data.{key}", endpoint=endpoint, code=envelope.code,
                             request_id=envelope.request_id)
    return str(value)
