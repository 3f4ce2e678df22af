"""The events sink (``app_events``, ``web_events``, ``offline_events``, ``crm_events``): one Events API 2.0 event
per trigger.

What it guarantees. A trigger's offset is committed only once TikTok accepted the request holding its event,
or the event was dead-lettered (TikTok refused it as invalid), or it was parked durably in
``{group_id}.parked`` because the job's authorization stopped working. Each event carries a stable
``event_id`` (derived from job, user, audience, enter/exit and trigger time), so a replay is deduplicated by
TikTok. A slow or throttled job never holds the poll loop or another job: ``submit`` pushes back
(``BackPressure``) once the sink holds its limit. Details: docs/architecture.md §4.2 and §6.

Read in this order:

- ``build.py``        builds the sink of one job version from the shared ``SinkContext``.
- ``sink.py``         the sink: map and serialise once, batch (≤ 1,000 events or ``linger_ms``), send, settle.
- ``batch.py``        items, batches, request bodies, and how a rejected batch is split.
- ``send.py``         the small thread pool that posts batches to ``/event/track/``.
- ``auth.py``         the job's token at send time (kind and scope checked) and the pause/resume rules.
- ``config.py``       the sink's own limits and timings.
- ``park.py``         the sink's side of parking: held items to parked records and back.
- ``parking.py``      where a paused job's records wait and how they are read back in order.
- ``parked_topic.py`` the parked-records topic ``{group_id}.parked``: name, record format, Kafka mechanics.
- ``deleted.py``      parked records of a deleted job: to the DLQ (``job_deleted``), tombstoned, committed.
"""
