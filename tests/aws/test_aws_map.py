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


def test_the_sqs_runner_sends_every_job_of_a_map_though_they_share_a_step_and_run(aws: AwsKit) -> None:
    from runfox_core import messages
    from runfox_core.aws.sqs_runner import SQSRunner
    from runfox_core.results import DispatchJob, ItemRef

    runner = SQSRunner(aws.queues, aws.results_url, sqs_client=aws.sqs)
    jobs = [DispatchJob("wf#1", "sq", {"x": i}, 0, token="op_a", item=ItemRef(i)) for i in range(12)]
    runner.dispatch("wf#1", jobs + jobs[:2])  # a job sent twice in one call goes once
    sent = [messages.decode(body) for body in map(messages.encode, aws.receive_all(aws.queues["op_a"]))]
    assert sorted(job.item.index for job in sent) == list(range(12))
