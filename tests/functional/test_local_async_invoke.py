"""The local emulator's asynchronous Invoke of the result router: accepted at once, delivered by the event
sources, retried, then sent to the results queue as Lambda's destination record; anything else refused."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from functional_kit import EXAMPLES_CONFIG, call, take_messages

from local.async_invoke import AsyncInvocations
from local.cloud import LocalCloud
from local.deployment import RESULTS_QUEUE, ROUTER_FUNCTION, op_queue_name
from local.event_source import EventSourceDriver
from local.events import load_event
from local.lambda_runtime import function_name, load_handler
from runfox_core import messages
from runfox_core.aws import answers, config
from runfox_core.aws.factory import get_backend
from runfox_core.executor import call_executor
from runfox_core.results import DispatchJob
from runfox_core.workflow import Workflow
from runfox_deploy.executors import load_executors_config

ROUTER_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTER_FUNCTION}"


def invoke_router(cloud: LocalCloud, event: Any, **params: Any) -> dict[str, Any]:
    params = {"FunctionName": ROUTER_FUNCTION, "InvocationType": "Event",
              "Payload": json.dumps(event).encode("utf-8"), **params}
    return cloud.client("lambda").invoke(**params)


def invocations(cloud: LocalCloud) -> AsyncInvocations:
    assert cloud.invocations is not None
    return cloud.invocations


def events_only(cloud: LocalCloud, **mode: Any) -> EventSourceDriver:
    """A driver that delivers asynchronous events and polls no queue (what lands on one stays there)."""
    return EventSourceDriver([], cloud.client("sqs"), visibility_timeout_seconds=0, **mode)


def answered_job(cloud: LocalCloud, op: str) -> str:
    """The result message of the job waiting on ``op``'s queue, run through the op's own ``execute``."""
    [body] = take_messages(cloud, op_queue_name(op))
    job = messages.decode(body)
    assert isinstance(job, DispatchJob)
    handler = load_executors_config(EXAMPLES_CONFIG).ops[op].handler
    assert handler is not None
    execute = load_handler(handler.rsplit(".", 1)[0] + ".execute")
    return messages.encode(messages.result_message(call_executor(execute, job)))


@pytest.fixture
def router_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The router handler replaced by one that records each event it gets and raises ``RuntimeError``."""
    calls: list[Any] = []

    def failing(event: Any, context: Any) -> None:
        calls.append(event)
        raise RuntimeError("the router is down")

    load_handler(config.RESULT_ROUTER_HANDLER)  # imported, so its module can be patched
    monkeypatch.setattr(sys.modules["result_router"], "handler", failing)
    yield calls


def test_executors_are_told_the_router_function_by_its_local_name(cloud: LocalCloud) -> None:
    assert os.environ[config.ENV_ROUTER_FUNCTION] == ROUTER_FUNCTION == function_name(config.RESULT_ROUTER_HANDLER)


def test_an_invoke_of_the_router_is_accepted_at_once_and_its_event_advances_the_execution(cloud: LocalCloud) -> None:
    # Given a started greeting whose make_greeting job was taken off its queue and answered
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    result = answered_job(cloud, "make_greeting")
    # When the answers event is handed to the router by an asynchronous Invoke
    response = invoke_router(cloud, answers.event([result]))
    # Then Lambda accepts it at once (202, nothing run yet), and it counts as in flight
    assert response["StatusCode"] == answers.ACCEPTED
    assert response["Payload"].read() == b""
    assert invocations(cloud).pending_payloads() == [answers.event([result])]
    driver = events_only(cloud)
    assert driver.in_flight() == 1
    # And the event sources deliver it to the router, which applies the result and dispatches shout
    stats = driver.run(timeout=20)
    assert (stats.events, stats.failed_events, driver.in_flight()) == (1, 0, 0)
    assert Workflow(key, get_backend()).step_statuses["make_greeting"] == "complete"
    [shout] = take_messages(cloud, op_queue_name("shout"))
    assert shout["execution"] == key


def test_a_router_that_raises_is_retried_twice_then_its_event_lands_on_the_results_queue(
        cloud: LocalCloud, router_calls: list[Any]) -> None:
    # Given a router handler that raises on every event
    event = answers.event(['{"kind": "result"}'])
    take_messages(cloud, RESULTS_QUEUE)
    # When an event is invoked by its ARN and the event sources run until nothing is in flight
    invoke_router(cloud, event, FunctionName=ROUTER_ARN)
    stats = events_only(cloud).run(timeout=20)
    # Then the router got it three times (the first try and two retries)
    assert router_calls == [event, event, event]
    assert (stats.events, stats.failed_events) == (3, 3)
    # And Lambda's on-failure destination record carries the event to the results queue
    [record] = take_messages(cloud, RESULTS_QUEUE)
    assert record["requestPayload"] == event
    assert record["requestContext"]["functionArn"] == f"{ROUTER_ARN}:$LATEST"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == {"errorMessage": "the router is down", "errorType": "RuntimeError"}
    assert {"version", "timestamp"} <= record.keys() and record["timestamp"].endswith("Z")
    # Which the router's queue path reads as the answers it carries
    assert answers.unwrap(json.dumps(record)) == event["messages"]


def test_in_duplicate_mode_an_event_is_delivered_a_second_time_and_only_the_first_counts(
        cloud: LocalCloud, router_calls: list[Any]) -> None:
    # Given an event for a router that raises
    take_messages(cloud, RESULTS_QUEUE)
    invoke_router(cloud, answers.event([]))
    # When the event sources deliver everything twice
    stats = events_only(cloud, duplicate=True).run(timeout=20)
    # Then each of its three attempts came twice, and the destination record was sent once
    assert len(router_calls) == 6 and stats.events == 3
    assert len(take_messages(cloud, RESULTS_QUEUE)) == 1


@pytest.mark.parametrize(("params", "code", "named"), [
    ({"FunctionName": "runfox-local-no-such-function"}, "ResourceNotFoundException", "runfox-local-no-such-function"),
    ({"FunctionName": f"arn:aws:lambda:us-east-1:999999999999:function:{ROUTER_FUNCTION}"},
     "ResourceNotFoundException", "999999999999"),
    ({"InvocationType": "RequestResponse"}, "InvalidParameterValueException", "RequestResponse"),
    ({"InvocationType": "DryRun"}, "InvalidParameterValueException", "DryRun"),
    ({"Qualifier": "live"}, "InvalidParameterValueException", "'live'"),
    ({"Payload": b"{not json"}, "InvalidRequestContentException", "json"),
    ({"Payload": b"[" + b"0," * 600_000 + b"0]"}, "RequestTooLargeException", "1,048,576"),
])
def test_an_invoke_the_emulator_does_not_serve_is_refused_in_lambdas_error_shape(
        cloud: LocalCloud, params: dict[str, Any], code: str, named: str) -> None:
    # When the router, or another function, is invoked in a way the emulator does not play
    before = invocations(cloud).pending_payloads()
    with pytest.raises(ClientError) as refused:
        invoke_router(cloud, answers.event([]), **params)
    # Then Lambda's error names what is wrong, and nothing was queued
    assert refused.value.response["Error"]["Code"] == code
    assert named in refused.value.response["Error"]["Message"]
    assert invocations(cloud).pending_payloads() == before
