"""Record-to-TikTok mapping: identifier normalisation and hashing (``normalise``, ``hashing``)."""
