"""aws_kit.py -- helpers for tests/aws: the AwsKit handle, SQS events, call recording."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

EVENTS = Path(__file__).resolve().parents[2] / "events"
REGION = "us-east-1"
OPS = ("op_a", "op_b")


@dataclass
class AwsKit:
    dynamodb: Any
    sqs: Any
    workflows_table: str = "runfox-workflows"
    tasks_table: str = "runfox-tasks"
    queues: dict[str, str] = field(default_factory=dict)  # token -> URL
    results_url: str = ""

    def client(self, service: str) -> Any:
        """A new client from its own session (what each thread or Lambda container has)."""
        return boto3.session.Session().client(service, region_name=REGION)

    def receive_all(self, url: str) -> list[dict[str, Any]]:
        """Every visible message body on ``url`` (parsed), deleting them."""
        bodies = []
        while True:
            resp = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            msgs = resp.get("Messages", [])
            if not msgs:
                return bodies
            for m in msgs:
                bodies.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def count(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"])
        return sum(int(v) for v in attrs["Attributes"].values())

    def task_rows(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.tasks_table)["Items"]


def sqs_event(*bodies: str) -> dict[str, Any]:
    """A real-shaped SQS event (from ``events/result_router.json``) carrying ``bodies``."""
    template = json.loads((EVENTS / "result_router.json").read_text())["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record["messageId"] = str(uuid.uuid4())
        record["body"] = body
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:runfox-op_a"
        records.append(record)
    return {"Records": records}


def record_calls(client: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every (operation, params) ``client`` sends from now on, in order."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, copy.deepcopy(params)))

    client.meta.events.register("provide-client-params.*.*", hook)
    return calls
