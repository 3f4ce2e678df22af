"""Sinks: where routed triggers go, one kind per job type.

- ``base.py``        the contract every sink implements (``Sink``), the dead-letter and recorder protocols the
                     poll loop hands records to, and ``SinkContext`` (what a sink builder may use).
- ``manager.py``     one sink per running job version, the routing table pointing at them, and the retiring
                     of old versions (they hold their offsets back until they have finished).
- ``dead_letter.py`` the sink of a job that cannot run here: its records go to the DLQ.
- ``events/``        ``app_events``, ``web_events``, ``offline_events``, ``crm_events`` (its ``__init__`` is its
                     map).
- ``audience/``      ``audience_export`` (its ``__init__`` is its map).

Adding a job type means adding its model (``tikstream.jobs.models``), a package here, and its builder in
``tikstream.app.default_sink_builders``.
"""
