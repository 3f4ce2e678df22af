"""No silent stall, against real Kafka and the emulator: when the audience writer thread dies (fault injected),
``/healthz`` answers 503 naming it within 10 s, ``tikstream_thread_failures_total{thread="audience-writer"}``
counts it, and the thread runs again after its backoff: the audience still ends with its members. When the
config registry dies, the process stops with status 1."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from conftest import produce
from emulator_proc import admin_url

from tikstream.app import App
from tikstream.auth import AuthStore
from tikstream.kafka.config_topic import publish
from tikstream.metrics import Metrics
from tikstream.settings import Settings
from tikstream.tiktok.client import TikTokClient

ADVERTISER = "7000000000000000000"
TOKEN = "tok-supervision-secret"


def _settings(kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path,
              job: dict[str, Any]) -> tuple[Settings, str]:
    triggers = new_topic(2, "triggers")
    config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    publish(kafka_config, config, [(job["id"], orjson.dumps(job))])
    auth = tmp_path / "auth.json"
    auth.write_text(orjson.dumps({"authorizations": {"main": {
        "kind": "tiktok_signin", "access_token": TOKEN, "app_id": "app", "secret": "s"}}}).decode())
    settings = Settings(bootstrap_servers=kafka_config["bootstrap.servers"], trigger_topics=(triggers,),
                        config_topic=config, dlq_topic=new_topic(1, "dlq"), group_id=f"g-{uuid.uuid4().hex[:8]}",
                        http_port=0, tiktok_base_url=emulator, auth_file=auth, state_dir=tmp_path / "state")
    return settings, triggers


def _healthz(app: App) -> tuple[int, str]:
    r = httpx.get(f"http://127.0.0.1:{app.status.port}/healthz", timeout=5)
    return r.status_code, r.text


def _wait(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_dead_audience_writer_is_reported_counted_and_restarted(kafka_config: dict[str, str], new_topic: Any,
                                                                 emulator: str, tmp_path: Path) -> None:
    job = {"id": "sup-aud", "type": "audience_export", "auth": "main", "audience": "vip",
           "advertiser_id": ADVERTISER, "identifiers": {"user.email": "EMAIL_SHA256"},
           "flush_interval_seconds": 1, "created_at": "2020-01-01T00:00:00Z"}
    settings, triggers = _settings(kafka_config, new_topic, emulator, tmp_path, job)
    metrics = Metrics()
    with TikTokClient(emulator, metrics=metrics) as tiktok:
        app = App(settings, metrics=metrics, auth=AuthStore(settings.auth_file), tiktok=tiktok)
        app.supervisor.healthy_after = 2.0
        thread = threading.Thread(target=app.run)
        thread.start()
        try:
            _wait(lambda: app.audience is not None and app.audience.service is not None, 60, "writer service")
            assert app.audience is not None and app.audience.service is not None
            service = app.audience.service
            assert _healthz(app)[0] == 200
            real_step = service._step_writers
            calls = {"n": 0}

            def failing_step() -> None:  # the fault: one step raises, as a bug or a broken client would
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError(f"writer broke while holding {TOKEN}")
                real_step()

            service._step_writers = failing_step  # type: ignore[method-assign]
            seconds = _wait(lambda: _healthz(app)[0] == 503, 10, "/healthz 503")
            status, text = _healthz(app)
            assert status == 503, text
            assert "audience-writer" in text and "RuntimeError: writer broke" in text, text
            assert TOKEN not in text, "the error shown by /healthz carries the token"
            failures = metrics.registry.get_sample_value("tikstream_thread_failures_total",
                                                         {"thread": "audience-writer"})
            assert failures == 1
            print(f"/healthz turned 503 {seconds:.1f} s after the fault")
            # it restarts with backoff (1 s) and works: the audience gets its members
            users = [(f"u-{i}".encode(), orjson.dumps({"audience": "vip", "event": "enter", "user_id": f"u-{i}",
                                                       "ts": int(time.time()), "user": {"email": f"u{i}@x.io"}}))
                     for i in range(50)]
            produce(kafka_config, triggers, users)

            def members() -> int:
                state = httpx.get(admin_url(emulator, "state"), params={"members": "1"}, timeout=10).json()
                return sum(len(a.get("members", [])) for a in state["audiences"])

            _wait(lambda: members() == 50, 90, "members after the restart")
            _wait(lambda: _healthz(app)[0] == 200, 15, "/healthz 200 after the restarted run proved itself")
            assert calls["n"] > 1
        finally:
            app.stop.set()
            thread.join(60)
        assert not thread.is_alive()


def test_a_dead_config_registry_stops_the_process_with_status_1(kafka_config: dict[str, str], new_topic: Any,
                                                              emulator: str, tmp_path: Path) -> None:
    job = {"id": "sup-web", "type": "web_events", "auth": "main", "audiences": ["vip"], "pixel_code": "C4ABCDEF",
           "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"}}
    settings, _ = _settings(kafka_config, new_topic, emulator, tmp_path, job)
    app = App(settings, auth=AuthStore(settings.auth_file))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(app.run()))
    thread.start()
    try:
        _wait(lambda: app.registry.caught_up, 60, "registry caught up")
        real_apply = app.registry.apply

        def broken(rec: Any) -> None:
            raise MemoryError("registry could not keep the job")

        app.registry.apply = broken  # type: ignore[method-assign]
        publish(kafka_config, settings.config_topic, [("sup-web", orjson.dumps(job))])
        thread.join(30)
        app.registry.apply = real_apply  # type: ignore[method-assign]
    finally:
        app.stop.set()
        thread.join(30)
    assert result == [1]
    failures = app.metrics.registry.get_sample_value("tikstream_thread_failures_total", {"thread": "config-registry"})
    assert failures == 1
    assert app.supervisor.fatal is not None and "MemoryError" in app.supervisor.fatal.error
