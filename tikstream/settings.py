"""Service settings: environment variables with prefix ``TIKSTREAM_`` (docs/architecture.md §7).

Read once, in ``tikstream.cli``; everything else receives plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIKSTREAM_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    trigger_topics: Annotated[tuple[str, ...], NoDecode] = ("tikstream.triggers",)
    config_topic: str = "tikstream.jobs"
    dlq_topic: str = "tikstream.dlq"
    group_id: str = "tikstream"
    auto_offset_reset: str = Field(default="earliest", pattern="^(earliest|latest)$")
    tiktok_base_url: str = "https://business-api.tiktok.com/open_api/v1.3"
    auth_file: Path = Path("./auth.json")
    http_port: int = Field(default=9464, ge=0, le=65535)
    state_dir: Path = Path("./.tikstream")
    kafka: dict[str, str] = Field(default_factory=dict)
    """Extra librdkafka settings, from ``TIKSTREAM_KAFKA__<key>`` (``__`` inside a key stands for ``.``)."""

    @field_validator("trigger_topics", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("kafka", mode="before")
    @classmethod
    def _kafka_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k).lower().replace("_", "."): str(v) for k, v in value.items()}
        return value

    def kafka_config(self) -> dict[str, str]:
        """librdkafka settings shared by every client tikstream builds. ``reconnect.backoff.max.ms`` is 1 s
        (librdkafka's default 10 s left clients away for up to 10 s after a broker came back from a restart);
        ``TIKSTREAM_KAFKA__*`` settings override it."""
        return {"bootstrap.servers": self.bootstrap_servers, "reconnect.backoff.max.ms": "1000", **self.kafka}
