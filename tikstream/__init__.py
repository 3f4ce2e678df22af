"""tikstream: keeps TikTok Custom Audiences and Events API 2.0 in step with audience triggers on Kafka."""

__version__ = "0.1.0"
