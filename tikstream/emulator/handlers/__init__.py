"""The emulator's request handlers, one module per endpoint family; ``server`` routes the paths to them.

TikTok's API, under ``/open_api/v1.3`` (each path with its trailing slash; ``server.api`` wraps these handlers
in TikTok's envelope, faults first, and logs each request)::

    events   POST /event/track/                                    track
    dmp      POST /dmp/custom_audience/file/upload/                upload
             POST /dmp/custom_audience/create/                     create
             POST /dmp/custom_audience/update/                     update
             GET  /dmp/custom_audience/get/                        get
             GET  /dmp/custom_audience/list/                       listing
             POST /dmp/custom_audience/delete/                     delete
    segment  POST /segment/audience/                               audience (create or delete)
             POST /segment/mapping/                                mapping (add or delete members)
    oauth    POST /oauth2/access_token/                            access_token
             GET  /oauth2/advertiser/get/                          advertisers

Outside ``/open_api/v1.3`` (plain aiohttp handlers, no envelope)::

    oauth    GET  /portal/auth                                     portal_auth (the consent page: a 302)
    admin    /_emulator/state, requests, health, reset, faults,    ``admin.ROUTES`` (plain JSON, for tests)
             settings, tokens, clock

A handler reads its request, calls the state modules of the package (``audiences``, ``filestore``,
``eventstore``, ``tokens``, ...) through ``context.Emulator``, and returns the envelope's ``data`` or raises
``envelope.ApiError``.
"""
