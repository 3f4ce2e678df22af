"""``POST /event/track/`` (TIKTOK_API.md §3)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from tikstream.emulator.context import Emulator
from tikstream.emulator.events import check_items, parse_track
from tikstream.emulator.tokens import allow_events


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around the decoding of one batch (no awaits inside).

    A 1,000-event body decodes into ~40,000 objects that live only until the batch is stored; collecting
    while they exist would walk them again and again for nothing. They hold no cycles and are freed by
    reference counting as soon as the handler returns.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def track(request: web.Request, emu: Emulator) -> dict[str, Any]:
    """Token, top level, permission for the source, then every item; the batch is kept whole or not at all."""
    grant = emu.grant(request)
    body = await request.read()
    with _collector_paused():
        track_request = parse_track(body)
        request["n_events"] = len(track_request.items)
        allow_events(grant, track_request.source, track_request.source_id)
        check_items(track_request)
        emu.events.add(track_request, body)
    return {}
