"""``POST /event/track/`` (docs/tiktok-api.md §3)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tikstream.emulator.context import EVENTS_KEY, Emulator
from tikstream.emulator.events import answer
from tikstream.emulator.tokens import allow_events


async def track(request: web.Request, emu: Emulator) -> dict[str, Any]:
    """Token, top level, permission for the source, then every item; the batch is kept whole or not at all."""
    grant = emu.grant(request)
    body = await request.read()
    checked = await emu.checker.check(body)
    request[EVENTS_KEY] = checked.size
    if not checked.source:
        answer(checked)
    allow_events(grant, checked.source, checked.source_id)
    answer(checked)
    emu.events.add(checked, body)
    return {}
