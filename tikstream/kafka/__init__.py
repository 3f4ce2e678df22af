"""The only package that imports confluent-kafka: the generic Kafka mechanics the features are built on.

- ``producer``: ``TrackedProducer``, the one producer. ``produce`` never blocks (a full local queue raises
  ``BackPressure``, nothing queued); delivery callbacks get a plain ``Delivery``. ``produce_waiting`` and
  ``produce_and_wait`` are the blocking helpers for callers that are not the poll loop.
- ``outbox``: ``Outbox``, records that wait in memory, in order, while the producer's queue is full (the
  dead-letter writer, parking), produced again by ``poll``/``flush``.
- ``consumer``: ``GroupConsumer``, a member of a consumer group that commits only when told, and
  ``TriggerConsumer``, the poll loop's.
- ``reader``: ``EndReader``, reads partitions up to the end offset seen when the read starts, outside any
  group's membership (compacted topics read whole, a stored file, the DLQ), and a group's commits.
- ``record``: ``Record``, a consumed record as plain values.
- ``admin``: creating the topics tikstream owns; ``retention``: a topic's retention settings set again, records
  deleted below an offset; ``watermarks``: watermarks, retried while the broker says
  "not yet".
- ``config_topic``: reading the compacted config topic and publishing job versions.
- ``dlq``: the dead-letter writer; ``dlq_replay``: DLQ replay and scan.

The feature packages keep their own topics, keys, record formats and partitioning (``sinks.audience.state``,
``sinks.audience.members_topic``, ``sinks.events.parked_topic``); only the Kafka mechanics live here.
"""
