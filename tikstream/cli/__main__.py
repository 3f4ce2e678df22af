"""``python -m tikstream.cli``."""

import sys

from tikstream.cli.main import main

sys.exit(main())
