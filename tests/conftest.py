from __future__ import annotations

import sys
from pathlib import Path

# tests/ helpers (kafka_broker, emulator_proc) are plain modules next to the tests
sys.path.insert(0, str(Path(__file__).parent))
