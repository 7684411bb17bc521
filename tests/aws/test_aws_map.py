"""Map steps on DynamoDBStore: the same scenarios as memory and SQLite (tests/map_kit.py)."""

from __future__ import annotations

from typing import Any

import map_kit
import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import DynamoDBStore


@pytest.mark.parametrize("scenario", map_kit.SCENARIOS, ids=lambda s: s.__name__)
def test_every_map_scenario_on_dynamodb(aws: AwsKit, scenario: Any) -> None:
    scenario(lambda executor=None, **kwargs: rfx.Backend(
        executor=executor, store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb), **kwargs))
