"""The audience export (``audience_export`` jobs): a TikTok Custom Audience follows one audience's membership.

What it guarantees (file delivery). A trigger's offset is committed only once its effect is durable in Kafka: the user's
membership is in ``{group_id}.audience-members`` and the batch holding the trigger was shipped (files uploaded,
their content and one pending operation per action stored in ``{group_id}.audience-ops``). Operations are then
applied to TikTok, in order, by the single writer of the job (one instance at a time, chosen by the consumer
group ``{group_id}.audience-writers``). A job has exactly one audience whatever the number of instances and
restarts; replays are set operations (APPEND / REMOVE), so they are harmless. A 500,000-user batch lives on
disk, not in memory. Details: docs/architecture.md §4.1 and §6.

Read in this order (the trigger's path):

- ``build.py``      composition: ``AudienceExport`` (built once by ``tikstream.app``) wires a job's sink, writer
                    and backfill to Kafka, TikTok and the membership table. No logic.
- ``membership.py`` the recorder the poll loop calls for every decoded trigger: the membership table's writes.
- ``members_topic.py`` that table in Kafka: key format, partitioning, the reader used for exits and backfills.
- ``sink.py``       the sink: triggers into an on-disk batch, sealed by time, users or bytes, shipped on a thread.
- ``batch.py``      the on-disk batch (SQLite): a user's last trigger wins.
- ``files.py``      customer files as TikTok wants them: one user's rows, single or ``MULTIPLE_TYPES`` files.
- ``ship.py``       shipping one sealed batch: write, upload and store the files, store the operations.
- ``ops.py``        the pending-operation and audience records (JSON values of the internal topics).
- ``state.py``      the internal topics of the audience export (ops, state, files) and their Kafka mechanics.
- ``service.py``    the writer role of the process: one thread owning this instance's share of the ops topic.
- ``writer.py``     the single writer of one job: create the audience once, wait until it is available, apply.
- ``backfill.py``   ``existing_users``: the users already in the audience when the job was created.

Streaming delivery (``delivery: streaming``, docs/architecture.md §4.1) uses the same sink, batch, ops topic,
writer service and backfill, with its own three steps; a trigger's offset then waits for TikTok's acceptance:

- ``segment.py``    rows aligned with ``id_schema`` and the ``/segment/mapping/`` body. Pure.
- ``streamer.py``   shipping a sealed batch: requests stored in the ops topic, then the wait until accepted.
- ``pusher.py``     the single writer of a streaming job: the segment audience once, then each request in order.
- ``preview.py``    the requests a streaming job would send for given triggers, without sending them.
"""
