"""Record-to-TikTok mapping.

* ``compile``: a job version compiled into one function, trigger → Events API 2.0 ``data[]`` item.
* ``normalise`` and ``hashing``: identifier normalisation and hashing for both TikTok APIs; ``phones``: phones by
  ``phone_policy``; ``reasons``: why a dropped value was dropped.
* ``convert``: ``properties`` converters, derivations from ``contents``, page-URL parameters, the record event id.
* ``counts``: the per-job identifier counts behind ``identifier_values_total`` and ``identifier_dropped_total``.
* ``preview``: one trigger explained: the event, where each value came from, every dropped value and why.
"""
