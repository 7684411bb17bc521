"""The reliability tier: fault injection, a bad-input corpus and load, on the local emulator.

Every test prints its figure (``make reliability`` runs pytest with -s), and
README.md's Reliability section quotes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
