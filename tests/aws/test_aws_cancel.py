"""Cancel on DynamoDB + SQS: one header write, and not one message to an op queue after it returns."""

from __future__ import annotations

import json

from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core import operations
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.sqs_runner import SQSRunner

WIDTH = 20
FAN = {"steps": [{"id": "seed", "fn": "op_a"}]
       + [{"id": f"w{i}", "fn": "op_a", "depends_on": ["seed"], "timeout_seconds": 5} for i in range(WIDTH)]
       + [{"id": "join", "fn": "op_b", "depends_on": [f"w{i}" for i in range(WIDTH)]}]}


def backend(aws: AwsKit) -> rfx.Backend:
    runner = SQSRunner(aws.queues, aws.tasks_table, aws.results_url, sqs_client=aws.sqs, dynamodb_client=aws.dynamodb)
    return rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb), runner=runner)


def op_messages(aws: AwsKit) -> int:
    return sum(len(aws.receive_all(url)) for url in aws.queues.values())


def test_executions_cancelled_mid_run_send_nothing_after_cancel_returns(aws: AwsKit) -> None:
    # Given three executions mid-run: 20 steps in flight each, half of them answered
    b = backend(aws)
    keys, jobs = [], {}
    for _ in range(3):
        started = operations.start(b, FAN)
        rfx.Workflow(started.execution, b).on_step_result("seed", {}, run_id=0)
        jobs[started.execution] = operations.advance(b, started.execution).dispatched
        for job in jobs[started.execution][: WIDTH // 2]:
            rfx.Workflow(started.execution, b).on_step_result(job.op, {"v": 1}, run_id=job.run_id)
        keys.append(started.execution)
    op_messages(aws)  # drain what was sent before the cancel
    # When each is cancelled, then every late result, timer and advance arrives
    for key in keys:
        assert operations.cancel(b, key).status == "cancelled"
    for key in keys:
        for job in jobs[key]:
            rfx.Workflow(key, b).on_step_result(job.op, {"v": 2}, run_id=job.run_id)
            rfx.Workflow(key, b).on_step_timeout(job.op, job.run_id)
        assert operations.advance(b, key).dispatched == []
    # Then not one job went to an op queue, and every step left open reads cancelled
    assert op_messages(aws) == 0
    described = operations.describe(b, keys[0])
    assert described.progress["cancelled"] == WIDTH // 2 + 1 and described.progress["complete"] == WIDTH // 2 + 1


def test_the_cancel_commit_is_one_write_to_the_header(aws: AwsKit) -> None:
    b = backend(aws)
    key = operations.start(b, FAN).execution
    calls: list[str] = []
    aws.dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.*", lambda params, model, **_: calls.append(model.name))
    operations.cancel(b, key)
    writes = [c for c in calls if c in ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem")]
    assert len(writes) == 1
    header = b.store.load_header(key)
    assert header.status == "cancelled" and header.unsent == {} and header.ready == {}
    assert json.dumps(header.outcome) == '{"reason": null}'
