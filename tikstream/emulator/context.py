"""The emulator's state as one object, reachable from every handler through ``EMULATOR``."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from tikstream.emulator.audiences import AudienceBook
from tikstream.emulator.checkpool import TrackChecker
from tikstream.emulator.clock import Clock
from tikstream.emulator.envelope import RequestIds
from tikstream.emulator.eventstore import EventStore
from tikstream.emulator.faults import FaultInjector
from tikstream.emulator.filestore import FileStore
from tikstream.emulator.oauth import AuthCodes
from tikstream.emulator.options import EmulatorOptions, as_dict
from tikstream.emulator.requestlog import MappingLog, RequestLog
from tikstream.emulator.tokens import Grant, TokenRegistry, load_auth_file

MAPPING_ROWS_KEPT: Final = 100_000
"""Rows of accepted ``/segment/mapping/`` bodies kept for ``/_emulator/state?mappings=1`` (about 50 MB)."""


class Emulator:
    """Everything the emulator remembers. ``reset()`` returns it to how it started."""

    def __init__(self, options: EmulatorOptions, checker: TrackChecker | None = None) -> None:
        self.options = options
        #: Not state: where track bodies are checked (``reset()`` keeps it).
        self.checker = checker or TrackChecker(0)
        self.ids = RequestIds()
        self.reset()

    def reset(self) -> None:
        """Forget everything and re-read the tokens file; raises ``ValueError``/``OSError`` if it is bad."""
        options = self.options
        grants = None if options.tokens_file is None else load_auth_file(options.tokens_file)
        self.clock = Clock()
        self.tokens = TokenRegistry(grants)
        self.auth_codes = AuthCodes(self.clock)
        self.faults = FaultInjector(options.faults, options.seed)
        self.files = FileStore(self.clock)
        self.audiences = AudienceBook(self.clock, options.rules)
        self.events = EventStore(self.clock, options.max_events_kept)
        self.mappings = MappingLog(MAPPING_ROWS_KEPT)
        self.log = RequestLog()

    def grant(self, request: web.Request) -> Grant:
        """The caller's grant from its ``Access-Token`` header (40104 missing, 40105 unknown or revoked)."""
        return self.tokens.resolve(request.headers.get("Access-Token"))

    def settings(self) -> dict[str, Any]:
        return {
            "faults": as_dict(self.faults.rates),
            "rules": as_dict(self.audiences.rules),
            "app_id": self.options.app_id,
            "advertiser_ids": list(self.options.advertiser_ids),
            "clock_offset_seconds": self.clock.offset,
            "tokens": self.tokens.summary(),
        }


EMULATOR = web.AppKey("emulator", Emulator)
#: Where a handler notes how many events a request carried, for the request log.
EVENTS_KEY = "n_events"


def emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR]
