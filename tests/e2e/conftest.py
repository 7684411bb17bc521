"""Fixtures for the end-to-end tier: the whole flow on the local emulator.

One ``LocalCloud`` per test module (moto server, every table and queue of
``examples/executors.json``); each test starts its own executions through
the real start handler and drives the event sources until they end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_kit import EXAMPLES_CONFIG

from local.cloud import LocalCloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(EXAMPLES_CONFIG, quiet=True) as local_cloud:
        yield local_cloud
