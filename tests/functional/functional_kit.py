"""functional_kit.py -- helpers shared by the functional tests (invoke a handler, inspect queues and tables)."""

from __future__ import annotations

import json
from typing import Any

from local.cloud import LocalCloud
from local.events import EXAMPLES_DIR
from local.lambda_runtime import invoke

EXAMPLES_CONFIG = EXAMPLES_DIR / "executors.json"


def call(handler: str, event: Any) -> Any:
    """Invoke an engine handler by its config path (``start.handler``...) as Lambda would."""
    return invoke(handler, event)


def take_messages(cloud: LocalCloud, queue: str) -> list[dict[str, Any]]:
    """Receive and delete every message now visible in ``queue``; return their decoded bodies."""
    sqs = cloud.client("sqs")
    url = cloud.queues[queue]
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                       WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def item_count(cloud: LocalCloud, table: str) -> int:
    return cloud.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
