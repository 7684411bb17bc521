"""An executor with the router named hands its batch's results to the router by one asynchronous Invoke;
what Invoke refuses, and only that, goes to the results queue (``runfox_core/aws/answers.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_kit import AwsKit, sqs_event
from botocore.exceptions import ClientError
from test_sqs_executor import execute, job_body, results

from runfox_core import messages
from runfox_core.aws import answers
from runfox_core.aws.executor import sqs_executor
from runfox_core.results import StepResult

ROUTER = "runfox-result-router"


class FakeLambda:
    """Lambda's Invoke as an executor sees it: ``refuse`` raises that error code for the next ``times`` calls;
    ``status`` is what an accepted call returns."""

    def __init__(self, refuse: str | None = None, times: int = 1 << 30, status: int = 202) -> None:
        self.refuse, self.times, self.status = refuse, times, status
        self.events: list[dict[str, Any]] = []  # the answers events accepted, decoded
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.refuse is not None and self.times > 0:
            self.times -= 1
            raise ClientError({"Error": {"Code": self.refuse, "Message": "injected"}}, "Invoke")
        if self.status == answers.ACCEPTED:
            self.events.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": self.status}


def handed(fake: FakeLambda) -> dict[str, dict[str, Any]]:
    """The result messages the router was handed, by step."""
    return {m["step"]: m for e in fake.events for m in map(json.loads, answers.bodies_of(e) or [])}


def executor(aws: AwsKit, fake: FakeLambda) -> Any:
    return sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs, router_function=ROUTER,
                        lambda_client=fake)


def test_a_batch_of_results_is_handed_to_the_router_by_one_asynchronous_invoke(aws: AwsKit) -> None:
    fake = FakeLambda()
    assert executor(aws, fake)(sqs_event(*(job_body(f"s{i}", x=i) for i in range(10))), None) == \
        {"batchItemFailures": []}
    assert [(c["FunctionName"], c["InvocationType"]) for c in fake.calls] == [(ROUTER, "Event")]
    assert {step: r["output"]["doubled"] for step, r in handed(fake).items()} == {f"s{i}": 2 * i for i in range(10)}
    assert results(aws) == {}  # nothing crossed the results queue


def test_results_the_router_cannot_be_invoked_with_go_to_the_results_queue(aws: AwsKit) -> None:
    fake = FakeLambda(refuse="TooManyRequestsException")
    assert executor(aws, fake)(sqs_event(job_body("a", x=1), job_body("b", x=2)), None) == {"batchItemFailures": []}
    assert handed(fake) == {} and sorted(results(aws)) == ["a", "b"]


def test_an_invoke_lambda_does_not_accept_counts_as_refused(aws: AwsKit) -> None:
    fake = FakeLambda(status=500)
    assert executor(aws, fake)(sqs_event(job_body("a")), None) == {"batchItemFailures": []}
    assert sorted(results(aws)) == ["a"]


def test_a_job_is_failed_only_when_both_the_router_and_the_queue_refuse_its_result(aws: AwsKit) -> None:
    class DeadSQS:
        def send_message_batch(self, **_: Any) -> None:
            raise ConnectionError("down")

    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=DeadSQS(), router_function=ROUTER,
                           lambda_client=FakeLambda(refuse="ServiceException"))
    event = sqs_event(job_body("a"))
    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_a_batch_over_one_event_is_handed_over_in_several(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    largest = messages.encode(messages.result_message(StepResult("wf#e1", "s6", 1, {"doubled": 12})))
    monkeypatch.setattr(answers, "MAX_EVENT_BYTES", 3 * answers._size(largest))  # three results an event
    fake = FakeLambda()
    assert executor(aws, fake)(sqs_event(*(job_body(f"s{i}", x=i) for i in range(7))), None) == \
        {"batchItemFailures": []}
    assert [len(answers.bodies_of(e) or []) for e in fake.events] == [3, 3, 1]
    assert sorted(handed(fake)) == [f"s{i}" for i in range(7)] and results(aws) == {}


def test_a_result_larger_than_an_event_takes_the_results_queue(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MAX_EVENT_BYTES", 200)
    fake = FakeLambda()
    assert executor(aws, fake)(sqs_event(job_body("small", x=1), job_body("big", x="y" * 300)), None) == \
        {"batchItemFailures": []}
    assert sorted(handed(fake)) == ["small"] and sorted(results(aws)) == ["big"]


def test_the_router_comes_from_the_environment_read_once(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLambda()
    monkeypatch.setenv("RUNFOX_ROUTER_FUNCTION", ROUTER)
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs, lambda_client=fake)
    handler(sqs_event(job_body("a")), None)
    monkeypatch.delenv("RUNFOX_ROUTER_FUNCTION")
    handler(sqs_event(job_body("b")), None)
    assert sorted(handed(fake)) == ["a", "b"] and results(aws) == {}


def test_without_the_router_named_results_go_to_the_queue_and_lambda_is_never_called(
        aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNFOX_ROUTER_FUNCTION", raising=False)
    fake = FakeLambda()
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs, lambda_client=fake)
    handler(sqs_event(job_body("a")), None)
    assert fake.calls == [] and sorted(results(aws)) == ["a"]


def test_a_destination_record_gives_back_the_messages_of_its_event() -> None:
    bodies = ['{"kind": "result"}', '{"kind": "wake"}']
    record = {"version": "1.0", "requestContext": {"condition": "RetriesExhausted"},
              "requestPayload": answers.event(bodies), "responsePayload": {"errorMessage": "boom"}}
    assert answers.unwrap(json.dumps(record)) == bodies
    assert answers.unwrap('{"kind": "result", "requestPayload": 1}') == ['{"kind": "result", "requestPayload": 1}']
    assert answers.unwrap("not json") == ["not json"]


def test_an_answers_event_whose_messages_are_not_strings_is_malformed() -> None:
    from runfox_core.errors import MessageError

    assert answers.bodies_of({"Records": []}) is None
    with pytest.raises(MessageError, match="'messages' must be a list of strings"):
        answers.bodies_of({"kind": "answers", "messages": [1]})
