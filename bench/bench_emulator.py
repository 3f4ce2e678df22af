"""Benchmark: how many events per second the emulator accepts in 1,000-event ``/event/track/`` requests.

Starts the emulator as a child process, opens ``--connections`` keep-alive connections that post valid
1,000-event web batches (unique ``event_id``s, hashed user fields, properties) for ``--seconds``, and counts the
events answered with code 0. Prints ``{"emulator_events_per_s": N, "emulator_cpu_ms_per_1000_events": C}``;
``--out FILE`` merges them into FILE. C is the CPU time per 1,000 events of the whole emulator (the serving
process and its track-check workers, ``--check-workers``): with K cores free for it, N can reach K * 10**6 / C,
so a low N with a low C means a busy machine, not a slow emulator.

The client speaks raw HTTP/1.1 over asyncio streams so that it takes little of the CPU the emulator needs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time

import httpx
import orjson
from common import merge_results

from tikstream.emulator.process import running_emulator

EVENTS_PER_REQUEST = 1000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def body_template() -> bytes:
    """A valid 1,000-event batch whose event ids contain ``@REQ@``, replaced per request.

    Each event is what a tikstream ``web_events`` job sends (docs/architecture.md §4.2): hashed email, phone and
    external_id, ip and user agent, value and currency, page url and referrer, plus one ``contents`` item.
    """
    data = [
        {
            "event": "Purchase",
            "event_time": 1_735_689_600 + i,
            "event_id": f"@REQ@-{i}",
            "user": {
                "email": [_sha(f"user{i}@example.com")],
                "phone": [_sha(f"+1213373{i:04d}")],
                "external_id": [_sha(f"u-{i}")],
                "ip": "203.0.113.7",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            },
            "properties": {
                "currency": "USD",
                "value": 46.0,
                "contents": [{"content_id": f"sku-{i}", "price": 23.0, "quantity": 2}],
            },
            "page": {"url": "https://shop.example/checkout", "referrer": "https://shop.example/cart"},
        }
        for i in range(EVENTS_PER_REQUEST)
    ]
    return orjson.dumps({"event_source": "web", "event_source_id": "CBENCH", "data": data})


async def _post_loop(host: str, port: int, template: bytes, conn: int, deadline: float) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    accepted, n = 0, 0
    head = (
        f"POST /open_api/v1.3/event/track/ HTTP/1.1\r\nHost: {host}:{port}\r\nAccess-Token: bench\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    try:
        while time.perf_counter() < deadline:
            n += 1
            body = template.replace(b"@REQ@", f"c{conn}r{n}".encode())
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(headers.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            reply = await reader.readexactly(length)
            if b'"code":0,' in reply:
                accepted += EVENTS_PER_REQUEST
    finally:
        writer.close()
    return accepted


async def measure(base_url: str, seconds: float, connections: int) -> float:
    """Events per second accepted by the emulator at ``base_url``."""
    return (await measure_with_cpu(base_url, seconds, connections))[0]


def _emulator_cpu_seconds(base_url: str) -> float:
    state = httpx.get(base_url.removesuffix("/open_api/v1.3") + "/_emulator/state", timeout=60).json()
    return float(state["process"]["cpu_seconds_total"])


async def measure_with_cpu(base_url: str, seconds: float, connections: int) -> tuple[float, float]:
    """(events accepted per second, emulator CPU milliseconds per 1,000 events)."""
    host_port = base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    template = body_template()
    cpu_before = _emulator_cpu_seconds(base_url)
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_post_loop(host, int(port), template, c, started + seconds) for c in range(connections))
    )
    elapsed = time.perf_counter() - started
    cpu_ms = (_emulator_cpu_seconds(base_url) - cpu_before) * 1000.0
    return sum(counts) / elapsed, cpu_ms / max(sum(counts) / 1000.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--out", help="JSON file to merge the result into")
    parser.add_argument("emulator_args", nargs="*", help="extra emulator options, after --")
    args = parser.parse_args(argv)
    with running_emulator(*args.emulator_args) as base_url:
        rate, cpu_ms = asyncio.run(measure_with_cpu(base_url, args.seconds, args.connections))
    # The CPU figure tells a slow emulator from a busy machine: at one full core, events/s = 10**6 / cpu_ms.
    merge_results(args.out, {"emulator_events_per_s": round(rate), "emulator_cpu_ms_per_1000_events": round(cpu_ms, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
