"""Cancel on DynamoDB + SQS: one header write, not one message to an op queue after it returns,
and under concurrent load not one commit after it returns."""

from __future__ import annotations

import json
import queue
import threading
import time

import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core import operations
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.sqs_runner import SQSRunner

WIDTH = 20
FAN = {"steps": [{"id": "seed", "fn": "op_a"}]
       + [{"id": f"w{i}", "fn": "op_a", "depends_on": ["seed"], "timeout_seconds": 5} for i in range(WIDTH)]
       + [{"id": "join", "fn": "op_b", "depends_on": [f"w{i}" for i in range(WIDTH)]}]}
# ten steps that each loop until an output says stop (none does): only a cancel ends it, so it is always running when cancelled
SPINNING = {"steps": [{"id": f"spin{i}", "fn": "op_a",
                       "branch": [{"condition": {"var": ["stop", False]}, "action": "complete"},
                                  {"condition": True, "action": {"set": f"spin{i}"}}]} for i in range(10)]}


def backend(aws: AwsKit) -> rfx.Backend:
    runner = SQSRunner(aws.queues, aws.results_url, sqs_client=aws.sqs)
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
            rfx.Workflow(started.execution, b).on_step_result(job.step, {"v": 1}, run_id=job.run_id)
        keys.append(started.execution)
    op_messages(aws)  # drain what was sent before the cancel
    # When each is cancelled, then every late result, timer and advance arrives
    for key in keys:
        assert operations.cancel(b, key).status == "cancelled"
    for key in keys:
        for job in jobs[key]:
            rfx.Workflow(key, b).on_step_result(job.step, {"v": 2}, run_id=job.run_id)
            rfx.Workflow(key, b).on_step_timeout(job.step, job.run_id)
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


@pytest.mark.parametrize("store", ["memory", "dynamodb"])
def test_cancelled_under_load_no_commit_lands_after_cancel_returns(
        aws: AwsKit, serialised_moto: None, store: str) -> None:
    # Given four executions whose jobs three router threads keep answering, advancing each
    b = backend(aws) if store == "dynamodb" else rfx.Backend()
    out: queue.Queue[rfx.DispatchJob] = queue.Queue()  # jobs sent and not answered yet
    keys = []
    for _ in range(4):
        started = operations.start(b, SPINNING)
        keys.append(started.execution)
        for job in started.dispatched:
            out.put(job)
    stop = threading.Event()
    failures: list[BaseException] = []

    def router() -> None:  # answers a job, advances its execution, and queues what that dispatched
        try:
            while not stop.is_set():
                try:
                    job = out.get(timeout=0.01)
                except queue.Empty:
                    continue
                wf = rfx.Workflow(job.execution_key, b)
                wf.on_step_result(job.step, {"v": 1}, run_id=job.run_id)
                for sent in operations.advance(b, job.execution_key, wf).dispatched:
                    out.put(sent)
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=router) for _ in range(3)]
    for thread in threads:
        thread.start()
    # When each is cancelled while they run, and the routers carry on for a while
    versions = {}
    for key in keys:
        running_by = time.monotonic() + 10
        while b.store.load_header(key).version < 5 and time.monotonic() < running_by:
            time.sleep(0.01)  # until routers have applied a few results of this one
        assert operations.cancel(b, key).status == "cancelled"
        versions[key] = b.store.load_header(key).version  # what cancel left
    time.sleep(0.3)
    stop.set()
    moved = [b.store.load_header(key).version for key in keys]
    for thread in threads:
        thread.join()
    # Then no claim, result or timer committed anything after cancel returned
    assert failures == []
    assert {key: b.store.load_header(key).version for key in keys} == versions
    assert all(b.store.load_header(key).status == "cancelled" for key in keys)
    assert min(versions.values()) > 5 and moved == list(versions.values())  # they did run before the cancel
