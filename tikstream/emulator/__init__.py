"""The local TikTok Business API emulator: a referee written from docs/tiktok-api.md.

It speaks the subset of TikTok's API that tikstream uses (Events API 2.0, the customer-file audience
endpoints, the streaming segment audience endpoints, the Marketing API OAuth flow), validates requests the
way that document says TikTok does, keeps state that tests can read (``GET /_emulator/state``) and injects
faults on demand.

It shares no code with the client it judges: nothing here imports any of tikstream outside
``tikstream.emulator``. It needs the ``emulator`` extra (aiohttp, jsonschema-rs, msgspec; see ``extra``).
This ``__init__`` imports nothing, so ``process`` and ``formats`` load without the extra; the entry points
are ``cli.main`` (``tikstream emulator``, ``python -m tikstream.emulator``) and ``server.create_app``.

Modules::

    cli           options and the serve loop (``main``);  process: run it as a child process (tests, benchmarks)
    extra         the ``emulator`` extra's libraries and the message for a user without them
    server        the aiohttp application: routing, the TikTok envelope, faults first, the request log
    handlers/     one module per endpoint family (its ``__init__`` maps paths to handlers):
      events        ``POST /event/track/``
      dmp           ``/dmp/custom_audience/*``: file upload, create, update, get, list, delete
      segment       ``/segment/audience/`` (create, delete), ``/segment/mapping/`` (add, delete members)
      oauth         ``/portal/auth``, ``/oauth2/access_token/``, ``/oauth2/advertiser/get/``
      admin         ``/_emulator/*``: state, request log, reset, faults, settings, tokens, clock, health
    track_schema  the ``/event/track/`` rule book as a JSON Schema;  events: checking bodies against it
    track_decoder the fast path for valid bodies: msgspec types built from track_schema
    checkpool     where bodies are checked: forked worker processes (``--check-workers``) or in place
    eventstore    events kept and deduplicated;  files, filestore: customer files;  audiences: audiences of
                  both kinds (customer file, segment) and their members
    formats       hash shapes, ``calculate_type`` tables, the MULTIPLE_TYPES header table, segment ``id_schema``
    tokens        access tokens and what each kind may do;  oauth: auth codes
    faults        throttling, errors, latency, timeouts;  requestlog: per-request log and counters
    envelope      TikTok's envelope and codes;  params: request parameters;  options, clock, context
"""
