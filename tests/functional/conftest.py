"""Fixtures for the functional tier: the real Lambda handlers against moto, over HTTP.

One ``LocalCloud`` (moto server, tables, queues, environment) per test
module, built from ``examples/executors.json``. Tests make their own
executions and compare counts before and after, so they share it safely.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from functional_kit import EXAMPLES_CONFIG

from local.cloud import LocalCloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(EXAMPLES_CONFIG, quiet=True) as local_cloud:
        yield local_cloud
