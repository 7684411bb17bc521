"""The result-router Lambda against moto: one SQS batch, per-record outcomes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from functional_kit import call, take_messages

from local.cloud import LocalCloud
from local.deployment import WORKFLOWS_TABLE, op_queue_name
from local.events import load_event
from runfox_core import messages
from runfox_core.aws import config
from runfox_core.aws.dynamodb_store import RENEW_SLACK_SECONDS
from runfox_core.aws.factory import get_backend
from runfox_core.results import DispatchJob
from runfox_core.workflow import Workflow

ROUTER = config.RESULT_ROUTER_HANDLER


def sqs_event(*bodies: str) -> dict[str, Any]:
    """A result-router event shaped like events/result_router.json, one record per body."""
    template = load_event("result_router")["Records"][0]
    return {"Records": [{**template, "messageId": str(uuid.uuid4()), "body": body} for body in bodies]}


def result(execution: str, step: str, run_id: int, output: dict[str, Any]) -> str:
    return json.dumps({"kind": "result", "execution": execution, "step": step, "run_id": run_id, "output": output})


@pytest.fixture
def greeting(cloud: LocalCloud) -> Iterator[str]:
    """A started greeting execution; its make_greeting job (run 0) is taken off the queue."""
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    yield key


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_only_infrastructure_failures_are_reported_and_the_good_result_is_applied(
        cloud: LocalCloud, greeting: str) -> None:
    # Given a batch: garbage, a result for an unknown execution, a stale run_id, and a good result
    unknown = "0" * 32 + "#20250101T000000.000000Z-0000000000000000"
    event = sqs_event(
        "{not json",
        result(unknown, "make_greeting", 0, {"text": "hi"}),
        result(greeting, "make_greeting", 7, {"text": "stale"}),
        result(greeting, "make_greeting", 0, {"text": "hello, world"}),
    )
    # When the router handles it
    response = call(ROUTER, event)
    # Then no record is reported failed, the good result is applied and the next step dispatched
    assert failed_ids(response) == []
    wf = Workflow(greeting, get_backend())
    assert wf.state == {"text": "hello, world"}
    assert [job["inputs"] for job in take_messages(cloud, op_queue_name("shout"))] == [{"text": "hello, world"}]


def test_a_storage_failure_fails_only_its_own_record(
        cloud: LocalCloud, greeting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a second execution, and DynamoDB refusing every commit to the first one
    other = call(config.START_HANDLER, load_event("start"))["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    store = get_backend().store
    real_commit = store.commit

    def commit(key: str, change: Any) -> Any:
        if key == greeting:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")
        return real_commit(key, change)

    monkeypatch.setattr(store, "commit", commit)
    event = sqs_event(result(greeting, "make_greeting", 0, {"text": "a"}),
                      result(other, "make_greeting", 0, {"text": "b"}))
    # When the router handles a result for each
    response = call(ROUTER, event)
    # Then only the first record is reported failed (SQS will redeliver it); the other is applied
    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert Workflow(other, get_backend()).state == {"text": "b"}
    monkeypatch.undo()
    # And the redelivered record then succeeds
    assert failed_ids(call(ROUTER, {"Records": [event["Records"][0]]})) == []
    assert Workflow(greeting, get_backend()).state == {"text": "a"}
    take_messages(cloud, op_queue_name("shout"))


def test_a_dead_lettered_job_becomes_a_failed_attempt(cloud: LocalCloud, greeting: str) -> None:
    # Given the job message of make_greeting run 0, arriving from the op's DLQ
    job = messages.job_message(DispatchJob(greeting, "make_greeting", {"name": "world"}, run_id=0))
    # When the router handles it
    response = call(ROUTER, sqs_event(messages.encode(job)))
    # Then the step's only attempt failed and so did the execution
    assert failed_ids(response) == []
    wf = Workflow(greeting, get_backend())
    assert str(wf.status) == "failed"
    assert wf.error is not None and (wf.error["step"], wf.error["type"]) == ("make_greeting", "DeadLetterError")


def test_a_duplicate_result_in_one_batch_is_applied_once(cloud: LocalCloud, greeting: str) -> None:
    # Given the same result twice in one batch
    body = result(greeting, "make_greeting", 0, {"text": "hello, world"})
    # When the router handles it
    response = call(ROUTER, sqs_event(body, body))
    # Then both records succeed and exactly one shout job was dispatched
    assert failed_ids(response) == []
    assert len(take_messages(cloud, op_queue_name("shout"))) == 1


def test_the_sample_router_event_is_dropped_as_an_unknown_execution(cloud: LocalCloud) -> None:
    # Given events/result_router.json (its execution is a placeholder)
    # When / Then: logged and dropped, not failed
    assert failed_ids(call(ROUTER, load_event("result_router"))) == []


def test_a_branch_condition_that_raises_fails_the_attempt_not_the_record(cloud: LocalCloud) -> None:
    # Given an execution whose step has a condition that divides by zero
    spec = {"steps": [{"op": "make_greeting", "input": {"name": {"var": "input.name"}},
                       "branch": [{"condition": {"/": [1, 0]}, "action": "complete"}]}]}
    key = call(config.START_HANDLER, {"spec": spec, "inputs": {"name": "world"}})["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    # When its result arrives at the router
    response = call(ROUTER, sqs_event(result(key, "make_greeting", 0, {"text": "hello"})))
    # Then the record succeeds and the execution has failed, naming the step, the field and the expression
    assert failed_ids(response) == []
    wf = Workflow(key, get_backend())
    assert wf.status == "failed"
    assert wf.error is not None and wf.error["type"] == "BranchError"
    assert wf.error["message"].startswith("step 'make_greeting', branch[0].condition: {\"/\":[1,0]}: ZeroDivisionError")


def test_the_result_that_finishes_an_execution_stamps_every_item_to_expire_after_the_retention(
        cloud: LocalCloud, greeting: str) -> None:
    # Given the deployed retention (RUNFOX_EXECUTION_RETENTION_DAYS, default 90 days)
    retention = config.DEFAULT_EXECUTION_RETENTION_DAYS * 86_400
    # When make_greeting's result and then shout's come through the router
    call(ROUTER, sqs_event(result(greeting, "make_greeting", 0, {"text": "hi"})))
    (shout,) = take_messages(cloud, op_queue_name("shout"))
    before = time.time()
    call(ROUTER, sqs_event(result(greeting, "shout", shout["run_id"], {"text": "HI"})))
    # Then the execution is complete and each of its items expires the retention after it ended (at most
    # the renewal slack later: items are stamped ahead when written, see aws/_ddb_retention.py)
    wf = Workflow(greeting, get_backend())
    assert str(wf.status) == "complete", wf.error
    rows = cloud.client("dynamodb").query(
        TableName=WORKFLOWS_TABLE, KeyConditionExpression="pk = :k",
        ExpressionAttributeValues={":k": {"S": greeting}})["Items"]
    assert {r["sk"]["S"].split("#")[0] for r in rows} >= {"def", "header", "step"}  # state rides in the header
    latest = time.time() + retention + RENEW_SLACK_SECONDS
    assert all(int(before) + retention <= int(r["expires_at"]["N"]) <= latest for r in rows)
