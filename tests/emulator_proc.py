"""Test helper shared by every suite that needs the TikTok emulator over real sockets.

    with running_emulator("--min-audience-size", "0") as base_url:
        httpx.post(f"{base_url}/event/track/", ...)

``base_url`` is ``http://127.0.0.1:PORT/open_api/v1.3`` on a free port; the admin endpoints live at
``base_url.removesuffix("/open_api/v1.3") + "/_emulator/state"`` (``admin_url`` does that).
"""

from __future__ import annotations

from tikstream.emulator.process import running_emulator


def admin_url(base_url: str, name: str) -> str:
    """``/_emulator/<name>`` on the emulator serving ``base_url``."""
    return base_url.removesuffix("/open_api/v1.3") + f"/_emulator/{name}"


__all__ = ["admin_url", "running_emulator"]
