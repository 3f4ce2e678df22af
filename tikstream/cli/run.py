"""``tikstream run``: the service."""

from __future__ import annotations

import gc

from tikstream.cli.common import require_kafka
from tikstream.settings import Settings

GC_THRESHOLDS = (50_000, 20, 10)
"""``gc.set_threshold`` for the service. CPython's default (700, 10, 10) runs a young collection every couple
of hundred events here: each event leaves a few tracked objects (trigger, record dict, batch item) alive
until its batch is sent, and a sink may hold thousands, so they were traversed again and again and promoted
into full collections: about a fifth of the poll thread's time in bench_events. 50,000 lets held events die
young; garbage cycles (rare on the hot path) wait a little longer."""


def tune_gc() -> None:
    """Process-wide GC settings for a long-running service, once start-up is done: collect, then
    ``gc.freeze()`` what start-up built (modules, models, clients: never garbage, no longer traversed by
    full collections), and raise the thresholds (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def cmd_run(settings: Settings) -> int:
    from tikstream.app import App
    from tikstream.auth import AuthStore, load_authorizations
    from tikstream.metrics import Metrics
    from tikstream.tiktok.client import TikTokClient

    load_authorizations(settings.auth_file)  # a missing or invalid file: one line, before anything starts
    require_kafka(settings)
    auth = AuthStore(settings.auth_file)
    metrics = Metrics()
    with TikTokClient(settings.tiktok_base_url, metrics=metrics) as tiktok:
        app = App(settings, metrics=metrics, auth=auth, tiktok=tiktok)
        app.install_signal_handlers()
        tune_gc()
        return app.run()
