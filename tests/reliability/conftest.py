"""The reliability tier: fault injection, a bad-input corpus and load, on the local emulator.

Every test prints its figure (``make reliability`` runs pytest with -s), and
README.md's Reliability section quotes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runfox_core.aws import config

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the crash tests: a claim whose send was lost may be re-emitted at once, not after the deployed 60 s.

    The emulator redelivers a failed record on the next round (visibility 0), so the
    grace that keeps a deployed advance from re-sending a send still in flight only delays
    the recovery under test.
    """
    monkeypatch.setenv(config.ENV_UNSENT_GRACE_SECONDS, "0")
