"""The sqs_executor harness with the values bucket: executors never see a reference."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_kit import REGION, AwsKit, sqs_event

from runfox_core import messages
from runfox_core.aws.config import ENV_BLOB_BUCKET
from runfox_core.aws.executor import sqs_executor
from runfox_core.aws.s3_blobs import S3BlobStore
from runfox_core.payloads import Codec, clear_cache, is_ref, resolve
from runfox_core.results import DispatchJob

BUCKET = "runfox-values"
DOC = {"title": "t", "body": "b" * 300_000}  # more than one SQS message holds


@pytest.fixture
def s3(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv(ENV_BLOB_BUCKET, BUCKET)  # as the stack sets it on every executor
    return client


def body(inputs: dict[str, Any]) -> str:
    return messages.encode(messages.job_message(DispatchJob("wf#e1", "a", inputs, 1, token="op")))


def test_a_large_return_is_sent_as_a_reference_to_the_bucket_and_inputs_arrive_resolved(aws: AwsKit, s3: Any) -> None:
    # Given an executor that records its inputs and returns a 300 KB document, and inputs holding a reference
    seen: list[dict[str, Any]] = []

    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        seen.append(inputs)
        return {"doc": DOC}

    given, _ = Codec(S3BlobStore(BUCKET, client=s3)).pack({"doc": {"title": "in", "body": "i" * 20_000}}, "inputs")
    clear_cache()
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    # When the job runs
    assert handler(sqs_event(body(given)), None) == {"batchItemFailures": []}
    # Then the executor got the value, and the result names the bucket's object instead of carrying it
    assert seen == [{"doc": {"title": "in", "body": "i" * 20_000}}]
    (result,) = aws.receive_all(aws.results_url)
    ref = result["output"]["doc"]
    assert is_ref(ref) and ref["$ref"].startswith(f"s3://{BUCKET}/blobs/") and resolve(ref) == DOC


def test_a_reference_outside_the_bucket_is_an_error_result_and_execute_never_runs(aws: AwsKit, s3: Any) -> None:
    calls: list[str] = []
    handler = sqs_executor(lambda op, i: calls.append(op) or {}, results_queue_url=aws.results_url,
                           sqs_client=aws.sqs)
    foreign = {"$ref": "s3://elsewhere/blobs/" + "0" * 64, "sha256": "0" * 64, "bytes": 2}
    assert handler(sqs_event(body({"doc": foreign})), None) == {"batchItemFailures": []}
    (result,) = aws.receive_all(aws.results_url)
    assert result["error"]["type"] == "BadReferenceError" and "s3://elsewhere/" in result["error"]["message"]
    assert calls == []
