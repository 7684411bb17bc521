"""The result-router Lambda handed an executor's results directly (an answers event, ``answers.py``): it
applies them like a batch off the results queue; what fails goes to the results queue, and Lambda's
on-failure destination record, arriving there, is applied like any message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from functional_kit import call, take_messages
from test_result_router_handler import failed_ids, result, sqs_event

from local.cloud import LocalCloud
from local.deployment import RESULTS_QUEUE, op_queue_name
from local.events import load_event
from runfox_core.aws import answers, config
from runfox_core.aws.factory import get_backend
from runfox_core.workflow import Workflow

ROUTER = config.RESULT_ROUTER_HANDLER


@pytest.fixture
def greeting(cloud: LocalCloud) -> Iterator[str]:
    """A started greeting execution; its make_greeting job (run 0) is taken off the queue."""
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    yield key
    take_messages(cloud, op_queue_name("shout"))
    take_messages(cloud, RESULTS_QUEUE)


def test_an_answers_event_is_applied_and_the_next_step_dispatched(cloud: LocalCloud, greeting: str) -> None:
    # When the router is handed make_greeting's result directly
    reply = call(ROUTER, answers.event([result(greeting, "make_greeting", 0, {"text": "hello, world"})]))
    # Then it is applied, the next job is sent, and nothing went through the results queue
    assert reply == {"applied": 1, "requeued": 0}
    assert Workflow(greeting, get_backend()).state == {"text": "hello, world"}
    assert [job["inputs"] for job in take_messages(cloud, op_queue_name("shout"))] == [{"text": "hello, world"}]
    assert take_messages(cloud, RESULTS_QUEUE) == []


def test_a_malformed_message_of_an_answers_event_is_dropped_and_the_rest_applied(
        cloud: LocalCloud, greeting: str) -> None:
    reply = call(ROUTER, answers.event(["{not json", result(greeting, "make_greeting", 0, {"text": "hi"})]))
    assert reply == {"applied": 1, "requeued": 0}
    assert Workflow(greeting, get_backend()).state == {"text": "hi"}


def test_a_malformed_answers_event_is_dropped_not_retried(cloud: LocalCloud) -> None:
    assert call(ROUTER, {"kind": "answers", "messages": "nope"}) == {"applied": 0, "requeued": 0}


def test_a_result_that_fails_to_apply_goes_to_the_results_queue_and_applies_from_there(
        cloud: LocalCloud, greeting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DynamoDB refusing every commit
    store = get_backend().store

    def refuse(key: str, change: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")

    monkeypatch.setattr(store, "commit", refuse)
    body = result(greeting, "make_greeting", 0, {"text": "late"})
    # When the router is handed the result
    assert call(ROUTER, answers.event([body])) == {"applied": 0, "requeued": 1}
    # Then the result waits on the results queue, and applies once DynamoDB takes commits again
    monkeypatch.undo()
    queued = take_messages(cloud, RESULTS_QUEUE)
    assert queued == [json.loads(body)]
    assert failed_ids(call(ROUTER, sqs_event(json.dumps(queued[0])))) == []
    assert Workflow(greeting, get_backend()).state == {"text": "late"}


def test_the_invocation_fails_when_the_results_queue_refuses_too(
        cloud: LocalCloud, greeting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given commits refused and the results queue refusing sends: only Lambda's retry of the event is left
    store, runner = get_backend().store, get_backend().runner

    def refuse(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "Any")

    monkeypatch.setattr(store, "commit", refuse)

    class DeadSQS:
        def send_message_batch(self, **_: Any) -> None:
            raise ConnectionError("down")

    monkeypatch.setattr(runner, "_sqs", DeadSQS())
    with pytest.raises(Exception, match="could not be sent to the results queue"):
        call(ROUTER, answers.event([result(greeting, "make_greeting", 0, {"text": "x"})]))


def test_a_destination_record_on_the_results_queue_is_applied_like_its_messages(
        cloud: LocalCloud, greeting: str) -> None:
    # Given Lambda's on-failure destination record of an answers event (retries exhausted)
    event = answers.event([result(greeting, "make_greeting", 0, {"text": "from the destination"})])
    record = {"version": "1.0", "timestamp": "2026-12-01T10:00:00.000Z",
              "requestContext": {"requestId": "r1", "functionArn": "arn:aws:lambda:us-east-1:1:function:router",
                                 "condition": "RetriesExhausted", "approximateInvokeCount": 3},
              "requestPayload": event, "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                                           "functionError": "Unhandled"},
              "responsePayload": {"errorMessage": "throttled", "errorType": "ClientError"}}
    # When the router takes it off the results queue
    assert failed_ids(call(ROUTER, sqs_event(json.dumps(record)))) == []
    # Then the result inside is applied
    assert Workflow(greeting, get_backend()).state == {"text": "from the destination"}
