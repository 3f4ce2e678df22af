"""``/_emulator/*``: state for tests, reset, and run-time changes (faults, rules, tokens, clock).

These answer plain JSON (not TikTok's envelope); a bad request is HTTP 400 ``{"error": ...}``.

- ``GET  /_emulator/state[?members=1][&events=1][&event_source_id=ID][&since=T][&mappings=1]``: with ``since``
  (Unix seconds) the event list holds only events received after ``T``; ``mappings``: the accepted
  ``/segment/mapping/`` bodies as received, oldest first, the last 100,000 rows' worth
- ``GET  /_emulator/requests[?since=SEQ]``: the per-request log
- ``POST /_emulator/reset``: back to the state the emulator started in (re-reads the tokens file)
- ``POST /_emulator/faults`` ``{throttle_rate, error_rate, latency_ms, timeout_rate, timeout_seconds, seed}``
- ``POST /_emulator/settings`` ``{audience_ready_seconds, min_audience_size, file_ttl_seconds}``
- ``POST /_emulator/tokens`` ``{"revoke": [token, ...], "add": {token: {kind, ...}}}``
- ``POST /_emulator/clock`` ``{"advance_seconds": N}``
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
import yaml
from aiohttp import web

from tikstream.emulator.audiences import Audience, Operation
from tikstream.emulator.checkpool import cpu_seconds
from tikstream.emulator.context import Emulator, emulator
from tikstream.emulator.options import updated
from tikstream.emulator.tokens import grant_from_entry


def _reply(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        doc = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return doc


def _audience(emu: Emulator, audience: Audience, members: bool) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": audience.audience_id,
        "advertiser_id": audience.advertiser_id,
        "name": audience.name,
        "calculate_type": audience.calculate_type,
        "kind": audience.kind,
        "members_count": len(audience.members),
        "is_valid": emu.audiences.is_valid(audience),
        "history": [_op(op) for op in audience.history],
    }
    if members:
        state["members"] = sorted(audience.members)
    return state


def _op(op: Operation) -> dict[str, Any]:
    return {
        "action": op.action,
        "file_paths": list(op.file_paths),
        "at": op.at,
        "added": op.added,
        "removed": op.removed,
        "size_after": op.size_after,
    }


async def state(request: web.Request) -> web.StreamResponse:
    emu, query = emulator(request), request.query
    events: dict[str, Any] = emu.events.summary()
    if query.get("events") in ("1", "true"):
        events["list"] = emu.events.listing(query.get("event_source_id"), _since(query.get("since")))
    members = query.get("members") in ("1", "true")
    extra = {"mappings": emu.mappings.bodies()} if query.get("mappings") in ("1", "true") else {}
    return _reply(
        {
            **extra,
            "audiences": [_audience(emu, a, members) for a in emu.audiences.all()],
            "events": events,
            "files": emu.files.snapshot(),
            "requests": emu.log.counters,
            "settings": emu.settings(),
            "process": _process(emu),
        }
    )


def _since(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"since: expected Unix seconds, got {raw!r}") from None


def _process(emu: Emulator) -> dict[str, Any]:
    """CPU seconds of the serving process and of each track-check worker, their sum, and where track bodies
    were checked."""
    checker = emu.checker
    workers = [{"pid": pid, "cpu_seconds": cpu_seconds(pid)} for pid in checker.worker_pids()]
    own = time.process_time()
    return {
        "pid": os.getpid(),
        "cpu_seconds": own,
        "workers": workers,
        "cpu_seconds_total": own + sum(w["cpu_seconds"] for w in workers),
        "track_checks": {"in_workers": checker.in_workers, "in_place": checker.in_place},
    }


async def requests(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("since", "0")
    if not raw.isdigit():
        raise web.HTTPBadRequest(text="since: expected a sequence number")
    return _reply({"requests": emulator(request).log.since(int(raw))})


async def reset(request: web.Request) -> web.StreamResponse:
    try:
        emulator(request).reset()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return _reply({"error": f"tokens file: {exc}"}, 400)
    return _reply({"reset": True})


async def faults(request: web.Request) -> web.StreamResponse:
    emu, body = emulator(request), await _body(request)
    has_seed, seed = "seed" in body, body.pop("seed", None)
    try:
        emu.faults.rates = updated(emu.faults.rates, body)
    except ValueError as exc:
        return _reply({"error": str(exc)}, 400)
    if has_seed:
        emu.faults.reseed(seed if isinstance(seed, int) else None)
    return _reply(emu.settings()["faults"])


async def settings(request: web.Request) -> web.StreamResponse:
    emu, body = emulator(request), await _body(request)
    try:
        emu.audiences.rules = updated(emu.audiences.rules, body)
    except ValueError as exc:
        return _reply({"error": str(exc)}, 400)
    return _reply(emu.settings()["rules"])


async def tokens(request: web.Request) -> web.StreamResponse:
    emu, body = emulator(request), await _body(request)
    revoke, add = body.get("revoke", []), body.get("add", {})
    if not isinstance(revoke, list) or not isinstance(add, dict):
        return _reply({"error": "expected {'revoke': [token...], 'add': {token: {kind...}}}"}, 400)
    try:
        grants = {str(token): grant_from_entry(entry, f"add.{token}") for token, entry in add.items()}
    except (ValueError, AttributeError) as exc:
        return _reply({"error": str(exc)}, 400)
    for token, grant in grants.items():
        emu.tokens.add(token, grant)
    for token in revoke:
        emu.tokens.revoke(str(token))
    return _reply(emu.tokens.summary())


async def clock(request: web.Request) -> web.StreamResponse:
    emu, body = emulator(request), await _body(request)
    seconds = body.get("advance_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return _reply({"error": "advance_seconds: expected a non-negative number"}, 400)
    emu.clock.advance(float(seconds))
    return _reply({"now": emu.clock.now(), "offset_seconds": emu.clock.offset})


async def health(request: web.Request) -> web.StreamResponse:
    return _reply({"ok": True})


ROUTES: Final[tuple[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]], ...]] = (
    ("GET", "/_emulator/state", state),
    ("GET", "/_emulator/requests", requests),
    ("GET", "/_emulator/health", health),
    ("POST", "/_emulator/reset", reset),
    ("POST", "/_emulator/faults", faults),
    ("POST", "/_emulator/settings", settings),
    ("POST", "/_emulator/tokens", tokens),
    ("POST", "/_emulator/clock", clock),
)
