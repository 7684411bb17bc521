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


def s3_backend(aws: AwsKit) -> tuple[Any, Any]:
    """(make, s3): a DynamoDB + SQS-shaped backend whose values bucket is S3, and the client."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="runfox-values")
    return (lambda executor=None, **kwargs: rfx.Backend(
        executor=executor, store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb),
        blobs=S3BlobStore("runfox-values", client=s3), **kwargs)), s3


@pytest.mark.parametrize("scenario", map_kit.ITEMS_FROM_SCENARIOS, ids=lambda s: s.__name__)
def test_every_items_from_scenario_reads_a_bucket_of_its_own_on_dynamodb(aws: AwsKit, scenario: Any) -> None:
    # Given the data in a bucket that is not the values bucket (the stack lists it in items_buckets)
    make, s3 = s3_backend(aws)
    s3.create_bucket(Bucket="team-data")

    def place(name: str, data: bytes) -> str:
        s3.put_object(Bucket="team-data", Key=f"exports/{name}", Body=data)
        return f"s3://team-data/exports/{name}"

    scenario(make, place)


def test_the_s3_form_reads_one_object_with_one_get_and_a_missing_bucket_is_named(aws: AwsKit) -> None:
    # Given 30 items as JSON lines in S3, and a map naming them by bucket and key (the key from the input)
    make, s3 = s3_backend(aws)
    s3.create_bucket(Bucket="team-data")
    s3.put_object(Bucket="team-data", Key="in/30.jsonl", Body="".join(f"{i}\n" for i in range(30)).encode())
    spec = map_kit.from_object("jsonl", max_concurrency=7)
    spec["steps"][0]["map"]["items_from"] = {"s3": {"bucket": "team-data", "key": {"var": "input.key"},
                                                    "format": "jsonl"}}
    backend = make()
    gets: list[str] = []
    backend.codec.blobs.client.meta.events.register(  # type: ignore[union-attr]
        "provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Bucket"]))
    # When it runs
    result, most = map_kit.drive(rfx.Workflow.from_dict(spec, backend, inputs={"key": "in/30.jsonl"}))
    # Then every item is squared in order, at most 7 jobs at once, and the object was read once
    assert result == rfx.Complete(map_kit.squares(30)) and most == 7
    assert gets == ["team-data"]
    # And a bucket that does not exist fails the step naming it
    message, _ = map_kit.failed_from(make, lambda *_: "", "jsonl", None, uri="s3://no-such-bucket/x.jsonl")
    assert "'s3://no-such-bucket/x.jsonl' is missing: no object 'x.jsonl' in bucket 'no-such-bucket' (no such bucket)" \
        in message


def test_the_aws_backend_cannot_read_a_file_uri(aws: AwsKit) -> None:
    make, _ = s3_backend(aws)
    message, _ = map_kit.failed_from(make, lambda *_: "", "json", None, uri="file:///etc/hostname")
    assert message == ("step 'sq', map.items_from: this backend reads only s3:// URIs; it cannot read "
                       "'file:///etc/hostname'")


class RefusingS3:
    """An S3 client whose every GetObject answers with one error code."""

    def __init__(self, code: str):
        self.code = code

    def get_object(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": self.code, "Message": self.code}}, "GetObject")


def test_access_denied_fails_the_attempt_naming_items_buckets_and_throttling_is_retried(aws: AwsKit) -> None:
    from runfox_core.engine import items_from
    from runfox_core.payloads import BlobStoreError

    source = items_from.ItemsFrom("s3://other/x.json", "json")
    # Given a bucket the engine's role may not read: the attempt fails, saying where to grant it
    with pytest.raises(items_from.ItemsFromError, match="access denied \\(list bucket 'other' in the stack's "
                                                        "items_buckets\\)"):
        items_from.read_items(S3BlobStore("runfox-values", client=RefusingS3("AccessDenied")), source, source.uri)
    # Given S3 slowing down: the store's trouble, so the transition is retried and no attempt fails
    with pytest.raises(BlobStoreError, match="reading 's3://other/x.json' failed: ClientError"):
        items_from.read_items(S3BlobStore("runfox-values", client=RefusingS3("SlowDown")), source, source.uri)
