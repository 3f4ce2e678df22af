"""The operator's HTTP endpoints on ``TIKSTREAM_HTTP_PORT``: /metrics, /healthz, /readyz, /jobs.

``/healthz`` answers 200 while the poll loop turns and the config registry is alive; ``/readyz`` answers 200
once the registry caught up and the consumer joined its group; ``/jobs`` lists every job with its version,
state and last error. Nothing served here contains a secret: job configs name authorizations, never tokens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tikstream.metrics import Metrics

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]


class StatusServer:
    def __init__(self, port: int, metrics: Metrics, health: Probe, ready: Probe,
                 jobs: Callable[[], list[dict[str, Any]]], host: str = "0.0.0.0") -> None:
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry)),
            "/healthz": lambda: _probe(health),
            "/readyz": lambda: _probe(ready),
            "/jobs": lambda: (200, "application/json", orjson.dumps({"jobs": jobs()}, option=orjson.OPT_INDENT_2)),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    status, ctype, body = 404, "text/plain", b"not found\n"
                else:
                    try:
                        status, ctype, body = route()
                    except Exception:  # a broken probe must answer 500, not kill the server thread
                        log.exception("status endpoint failed", extra={"path": self.path})
                        status, ctype, body = 500, "text/plain", b"internal error\n"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._lock = threading.Lock()
        self._serving = self._closed = False

    def serve(self, stop: threading.Event) -> None:
        """The server thread's body (run supervised by ``tikstream.app``): serves until ``close``."""
        with self._lock:
            if self._closed or stop.is_set():
                return
            self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def close(self) -> None:
        """Stop serving (``serve`` returns) and release the port."""
        with self._lock:
            self._closed = True
            serving = self._serving
        if serving:
            self._server.shutdown()  # waits for serve_forever to return: only when it runs
        self._server.server_close()


def _probe(probe: Probe) -> tuple[int, str, bytes]:
    ok, detail = probe()
    return (200 if ok else 503), "text/plain", (("ok" if ok else "unavailable") + f": {detail}\n").encode()
