"""The local TikTok Business API emulator: a referee written from TIKTOK_API.md.

It speaks the subset of TikTok's API that tikstream uses (Events API 2.0, the customer-file audience
endpoints, the Marketing API OAuth flow), validates requests the way that document says TikTok does,
keeps state that tests can read (``GET /_emulator/state``) and injects faults on demand.

It shares no code with the client it judges: nothing here imports ``tikstream.tiktok``,
``tikstream.mapping`` or ``tikstream.sinks``.

Modules::

    cli          options and the serve loop (``main``); process: run it as a child process (tests, benchmarks)
    server       the aiohttp application: routing, the TikTok envelope, faults first, the request log
    handlers_*   one module per endpoint family: events, dmp, oauth, admin (``/_emulator/*``)
    track_schema the ``/event/track/`` rule book as a JSON Schema; events: checking bodies against it
    track_decoder the fast path for valid bodies: msgspec types built from track_schema
    checkpool    where bodies are checked: forked worker processes (``--check-workers``) or in place
    eventstore   events kept and deduplicated;  files, filestore: customer files;  audiences: audiences
    formats      hash shapes, ``calculate_type`` tables and the MULTIPLE_TYPES header table
    tokens       access tokens and what each kind may do;  oauth: auth codes
    faults       throttling, errors, latency, timeouts;  requestlog: per-request log and counters
    envelope     TikTok's envelope and codes;  params: request parameters;  options, clock, context
"""

from __future__ import annotations

from tikstream.emulator.cli import main
from tikstream.emulator.options import EmulatorOptions
from tikstream.emulator.server import create_app

__all__ = ["EmulatorOptions", "create_app", "main"]
