"""Fixtures for tests/aws: one moto account per test, with the runfox tables and queues.

``aws`` yields an ``AwsKit`` (aws_kit.py): clients, table names and queue
URLs. Moto runs in-process (``mock_aws``); ``serialised_moto`` makes every
moto request atomic, as each DynamoDB request is, so threads can share one
moto backend (moto's TransactWriteItems is not safe from two threads at once).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_kit import OPS, REGION, AwsKit
from moto import mock_aws

from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.tables import create_tables


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsKit]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RunfoxTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "runfox-test")
    with mock_aws():
        kit = AwsKit(dynamodb=boto3.client("dynamodb", region_name=REGION),
                     sqs=boto3.client("sqs", region_name=REGION))
        create_tables(kit.dynamodb, kit.workflows_table, kit.tasks_table)
        kit.queues = {op: kit.sqs.create_queue(QueueName=f"runfox-{op}")["QueueUrl"] for op in OPS}
        kit.results_url = kit.sqs.create_queue(QueueName="runfox-results")["QueueUrl"]
        yield kit


@pytest.fixture
def store(aws: AwsKit) -> DynamoDBStore:
    """A DynamoDBStore on the kit's workflows table."""
    return DynamoDBStore(aws.workflows_table, client=aws.dynamodb)


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


