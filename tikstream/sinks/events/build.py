"""Building an events sink from a job version and the shared ``SinkContext`` (used by ``tikstream.app``)."""

from __future__ import annotations

from collections.abc import Callable

from tikstream.errors import ConfigError
from tikstream.jobs.models import AppEventsJob, CrmEventsJob, OfflineEventsJob, WebEventsJob
from tikstream.jobs.registry import JobVersion
from tikstream.sinks.base import SinkContext
from tikstream.sinks.events.config import EventsSinkConfig
from tikstream.sinks.events.parked_topic import ensure_parked_topic, parked_topic
from tikstream.sinks.events.parking import KafkaParking
from tikstream.sinks.events.sink import EventsSink

__all__ = ["build_events_sink"]


def build_events_sink(version: JobVersion, ctx: SinkContext, config: EventsSinkConfig | None = None) -> EventsSink:
    """The sink of an ``app_events``, ``web_events``, ``offline_events`` or ``crm_events`` job version.

    Creates the parked-records topic ``{group_id}.parked`` when it is missing (``ConfigError`` when Kafka
    cannot be reached). Uses the shared TikTok client; without one in the context (tests that build an
    ``App`` bare), the sink gets a client of its own, closed with it. ``config`` overrides the sink's knobs
    (tests, benchmarks: bind it with ``functools.partial``).
    """
    job = version.job
    if not isinstance(job, AppEventsJob | WebEventsJob | OfflineEventsJob | CrmEventsJob):
        raise ConfigError(f"job {job.id!r} of type {job.type!r} is not an events job")
    topic = parked_topic(ctx.group_id)
    ensure_parked_topic(ctx.kafka_config, topic)
    client, on_close = ctx.tiktok, None
    if client is None:
        from tikstream.tiktok.client import TikTokClient

        client = TikTokClient(ctx.tiktok_base_url, metrics=ctx.metrics)
        on_close = client.close
    closer: Callable[[], None] | None = on_close
    return EventsSink(job, client=client, auth=ctx.auth, dlq=ctx.dlq, metrics=ctx.metrics,
                      parking=KafkaParking(ctx.kafka_config, topic, job.id, ctx.supervisor),
                      config=config or EventsSinkConfig(), on_close=closer, supervisor=ctx.supervisor)
