"""aws_kit.py -- helpers for tests/aws: the AwsKit handle, SQS events, call recording."""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
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


@contextlib.contextmanager
def fast_moto_transactions() -> Iterator[None]:
    """Make moto's TransactWriteItems back a table up once per call, cheaply, instead of per action.

    moto deep-copies the whole table for every action of a transaction (for
    rollback), which makes a commit O(actions x items) and a 1,000-step test
    take minutes. This keeps the same rollback but copies once per call and
    shares immutable attribute values (S, N, B, BOOL, NULL) with the original;
    anything moto could change in place (maps, lists, sets, attribute dicts)
    is still copied. Test-only: it touches moto internals, so it is opt-in.
    """
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table

    real_copy = models.copy
    real_transact = models.DynamoDBBackend.transact_write_items
    memo: dict[int, Any] = {}

    def item_backup(item: Any) -> Any:
        new = Item.__new__(Item)
        new.hash_key, new.range_key = item.hash_key, item.range_key
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attrs)
        for name, value in item.attrs.items():
            dict.__setitem__(attrs, name, value if value.type in _IMMUTABLE else copy.deepcopy(value))
        new.attrs = attrs
        return new

    class Copy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

        @staticmethod
        def deepcopy(obj: Any, memo_: Any = None) -> Any:
            if not isinstance(obj, Table):
                return real_copy.deepcopy(obj, memo_)
            if id(obj) not in memo:
                clone = real_copy.copy(obj)
                clone.items = defaultdict(dict)
                for h, v in obj.items.items():
                    clone.items[h] = {r: item_backup(i) for r, i in v.items()} if isinstance(v, dict) else item_backup(v)
                memo[id(obj)] = clone
            return memo[id(obj)]

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        memo.clear()
        try:
            return real_transact(self, transact_items)
        finally:
            memo.clear()

    models.copy = Copy()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.copy = real_copy
        models.DynamoDBBackend.transact_write_items = real_transact  # type: ignore[method-assign]


_IMMUTABLE = frozenset({"S", "N", "B", "BOOL", "NULL"})
