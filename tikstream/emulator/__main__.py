"""``python -m tikstream.emulator``: run the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

from tikstream.emulator.cli import main

raise SystemExit(main())
