"""Map steps on DynamoDBStore: the same scenarios as memory and SQLite (tests/map_kit.py)."""

from __future__ import annotations

from typing import Any

import boto3
import map_kit
import pytest
from aws_kit import REGION, AwsKit

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.s3_blobs import S3BlobStore


@pytest.mark.parametrize("scenario", map_kit.SCENARIOS, ids=lambda s: s.__name__)
def test_every_map_scenario_on_dynamodb(aws: AwsKit, scenario: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="runfox-values")  # as deployed: the values bucket holds what goes by reference
    scenario(lambda executor=None, **kwargs: rfx.Backend(
        executor=executor, store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb),
        blobs=S3BlobStore("runfox-values", client=s3), **kwargs))


def test_without_a_blob_store_results_over_one_step_output_fail_the_step_naming_the_size(aws: AwsKit) -> None:
    # Given a DynamoDB backend with no values bucket, and a map whose results add up to 240 KB
    backend = rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb))
    assert backend.codec.blobs is None
    # When it runs
    result, _ = map_kit.drive(rfx.Workflow.from_dict(map_kit.mapped(items=list(range(12))), backend),
                              map_kit.big_results)
    # Then the map step fails, naming the size and the limit, and nothing was passed by reference
    assert isinstance(result, rfx.Failed) and (result.error.step, result.error.type) == ("sq", "PayloadError")
    assert "the results of its 12 items are about 240," in result.error.message
    assert "with no blob store to pass them by reference, a step output holds at most 196,608" in result.error.message


def test_the_sqs_runner_sends_every_job_of_a_map_though_they_share_a_step_and_run(aws: AwsKit) -> None:
    from runfox_core import messages
    from runfox_core.aws.sqs_runner import SQSRunner
    from runfox_core.results import DispatchJob, ItemRef

    runner = SQSRunner(aws.queues, aws.results_url, sqs_client=aws.sqs)
    jobs = [DispatchJob("wf#1", "sq", {"x": i}, 0, token="op_a", item=ItemRef(i)) for i in range(12)]
    runner.dispatch("wf#1", jobs + jobs[:2])  # a job sent twice in one call goes once
    sent = [messages.decode(body) for body in map(messages.encode, aws.receive_all(aws.queues["op_a"]))]
    assert sorted(job.item.index for job in sent) == list(range(12))
