"""``python -m tikstream.emulator``: run the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from tikstream.emulator import extra

try:
    from tikstream.emulator.cli import main
except ImportError as error:
    message = extra.missing(error)
    if message is None:
        raise
    print(message, file=sys.stderr)
    raise SystemExit(2) from None

raise SystemExit(main())
