"""test_sqs_executor.py -- the SQS executor harness: one result per job, sent together; failures only for
infrastructure."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
from aws_kit import AwsKit, sqs_event
from aws_lambda_powertools import Logger

from runfox_core import messages
from runfox_core.aws.executor import sqs_executor
from runfox_core.errors import RunfoxError
from runfox_core.results import DispatchJob

KEY = "wf#e1"


def job_body(step: str, token: str = "op_a", run_id: int = 1, **inputs: Any) -> str:
    return messages.encode(messages.job_message(DispatchJob(KEY, step, inputs or {"x": 1}, run_id, token=token)))


def execute(token: str, inputs: dict[str, Any]) -> Any:
    if token == "op_a":
        return {"doubled": inputs["x"] * 2}
    if token == "raises":
        raise ValueError("bad input x")
    if token == "none":
        return None
    if token == "list":
        return [1, 2]
    if token == "unserialisable":
        return {"when": object()}
    if token == "huge":
        return {"x": "y" * 300_000}
    raise KeyError(token)


def results(aws: AwsKit) -> dict[str, dict[str, Any]]:
    return {m["step"]: m for m in aws.receive_all(aws.results_url)}


def test_a_job_runs_and_its_output_is_sent_as_a_result(aws: AwsKit) -> None:
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    assert handler(sqs_event(job_body("a", x=21)), None) == {"batchItemFailures": []}
    assert results(aws) == {"a": {"kind": "result", "execution": KEY, "step": "a", "run_id": 1,
                                  "output": {"doubled": 42}}}


@pytest.mark.parametrize(
    ("token", "error_type", "says"),
    [
        ("raises", "ValueError", "bad input x"),
        ("none", "PayloadError", "must be a JSON object"),
        ("list", "PayloadError", "must be a JSON object"),
        ("unserialisable", "PayloadError", "not JSON-serialisable"),
        ("huge", "PayloadError", "the limit is"),
    ],
)
def test_an_executor_fault_is_an_error_result_not_a_failed_record(
    aws: AwsKit, token: str, error_type: str, says: str
) -> None:
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    assert handler(sqs_event(job_body("a", token=token)), None) == {"batchItemFailures": []}
    result = results(aws)["a"]
    assert "output" not in result
    assert result["error"]["type"] == error_type and says in result["error"]["message"]


def test_a_malformed_record_is_dropped_and_the_others_still_run(aws: AwsKit) -> None:
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    not_a_job = messages.encode(messages.wake_message(KEY))
    event = sqs_event(job_body("a"), "not json", not_a_job, '{"kind": "job"}', job_body("b", x=2))
    assert handler(event, None) == {"batchItemFailures": []}
    assert sorted(results(aws)) == ["a", "b"]


class RefusingSQS:
    """SQS that refuses the result of step ``refuse`` (as SendMessageBatch does: in ``Failed``) ``times`` times."""

    def __init__(self, aws: AwsKit, refuse: str, times: int) -> None:
        self.aws, self.refuse, self.times = aws, refuse, times
        self.calls: list[int] = []  # entries per SendMessageBatch call

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        failed = [e for e in Entries if json.loads(e["MessageBody"])["step"] == self.refuse and self.times > 0]
        self.times -= bool(failed)
        accepted = [e for e in Entries if e not in failed]
        if accepted:
            self.aws.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=accepted)
        return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in failed]}


def test_the_results_of_an_invocation_are_sent_in_one_call(aws: AwsKit) -> None:
    sqs = RefusingSQS(aws, refuse="none", times=0)
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=sqs)
    assert handler(sqs_event(*(job_body(f"s{i}", x=i) for i in range(10))), None) == {"batchItemFailures": []}
    assert sqs.calls == [10]
    assert {step: r["output"]["doubled"] for step, r in results(aws).items()} == {f"s{i}": 2 * i for i in range(10)}


def test_a_refused_result_is_sent_again_once(aws: AwsKit) -> None:
    sqs = RefusingSQS(aws, refuse="b", times=1)
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=sqs)
    assert handler(sqs_event(job_body("a"), job_body("b"), job_body("c")), None) == {"batchItemFailures": []}
    assert sqs.calls == [3, 1]
    assert sorted(results(aws)) == ["a", "b", "c"]


def test_a_result_refused_twice_fails_only_its_record(aws: AwsKit) -> None:
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=RefusingSQS(aws, "b", times=2))
    event = sqs_event(job_body("a"), job_body("b"), job_body("c"))
    failed_id = event["Records"][1]["messageId"]
    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": failed_id}]}
    assert sorted(results(aws)) == ["a", "c"]


def test_a_whole_failed_batch_is_reported_not_raised(aws: AwsKit) -> None:
    class DeadSQS:
        def send_message_batch(self, **_: Any) -> None:
            raise ConnectionError("down")

    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=DeadSQS())
    event = sqs_event(job_body("a"))
    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_the_results_queue_comes_from_the_environment_read_once(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNFOX_RESULTS_QUEUE_URL", raising=False)
    handler = sqs_executor(execute, sqs_client=aws.sqs)  # nothing read yet: building a handler has no side effects
    with pytest.raises(RunfoxError, match="RUNFOX_RESULTS_QUEUE_URL"):
        handler(sqs_event(job_body("a")), None)
    monkeypatch.setenv("RUNFOX_RESULTS_QUEUE_URL", aws.results_url)
    handler(sqs_event(job_body("a")), None)
    monkeypatch.setenv("RUNFOX_RESULTS_QUEUE_URL", "https://elsewhere.invalid/q")
    handler(sqs_event(job_body("b")), None)
    assert sorted(results(aws)) == ["a", "b"]


def test_metrics_and_logs_work_without_aws(aws: AwsKit, capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    logger = Logger(service="runfox-test-logs", stream=stream)
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs, logger=logger)
    handler(sqs_event(job_body("a"), job_body("b", token="raises"), "junk"), None)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "RunfoxTest"
    assert (emf[0]["StepSucceeded"], emf[0]["StepErrored"], emf[0]["MalformedJob"]) == ([1.0], [1.0], [1.0])
    logs = {line["message"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    assert logs["step succeeded"]["correlation_id"] == KEY and logs["step succeeded"]["step"] == "a"
    assert logs["step errored"]["error"] == {"type": "ValueError", "message": "bad input x"}
    assert logs["dropping malformed job message"]["level"] == "ERROR"
    assert logs["dropping malformed job message"].get("correlation_id") is None


class FakeClock:
    """A Lambda context whose remaining time drops by each job's duration (no real waiting)."""

    def __init__(self, timeout_seconds: float, job_seconds: float) -> None:
        self.left = timeout_seconds
        self.job_seconds = job_seconds
        self.started: list[str] = []

    def get_remaining_time_in_millis(self) -> int:
        return int(self.left * 1000)

    def execute(self, token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        self.started.append(inputs["n"])
        self.left -= self.job_seconds
        return {"n": inputs["n"]}


def timed_job(n: str, timeout_seconds: float | None) -> str:
    job = DispatchJob(KEY, n, {"n": n}, 1, token="op_a", timeout_seconds=timeout_seconds)
    return messages.encode(messages.job_message(job))


def test_a_job_with_no_time_left_goes_back_to_its_queue_unstarted(aws: AwsKit) -> None:
    # Given a 30 s invocation and five 7-second jobs whose step timeout is 7 s (margin 2 s)
    clock = FakeClock(timeout_seconds=30, job_seconds=7)
    handler = sqs_executor(clock.execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    event = sqs_event(*(timed_job(f"j{i}", 7) for i in range(5)))
    # When the batch runs
    response = handler(event, clock)
    # Then four jobs fit (30, 23, 16, 9 s left each time >= 7 + 2) and the fifth is not started
    assert clock.started == ["j0", "j1", "j2", "j3"]
    assert sorted(results(aws)) == ["j0", "j1", "j2", "j3"]
    # And it is reported as a batch item failure, so SQS redelivers it and no attempt is counted
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][4]["messageId"]}]}


def test_without_a_step_timeout_the_longest_job_seen_is_the_estimate(aws: AwsKit,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Given jobs with no step timeout that take 10 s each, a 25 s invocation and a 1 s margin
    monkeypatch.setenv("RUNFOX_JOB_MARGIN_SECONDS", "1")
    clock = FakeClock(timeout_seconds=25, job_seconds=10)
    handler = sqs_executor(clock.execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    monkeypatch.setattr("runfox_core.aws.executor.time.monotonic", iter(range(0, 1000, 10)).__next__)
    # When three jobs arrive
    response = handler(sqs_event(*(timed_job(f"j{i}", None) for i in range(3))), clock)
    # Then the first two run (25 s and 15 s left >= 10 + 1 after the first took 10 s) and the third waits
    assert clock.started == ["j0", "j1"]
    assert len(response["batchItemFailures"]) == 1


def test_a_bad_margin_fails_the_invocation_naming_the_variable(aws: AwsKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNFOX_JOB_MARGIN_SECONDS", "soon")
    handler = sqs_executor(execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    with pytest.raises(RunfoxError, match="RUNFOX_JOB_MARGIN_SECONDS"):
        handler(sqs_event(job_body("a")), None)


def test_the_first_job_of_an_invocation_always_runs(aws: AwsKit) -> None:
    # Given a step timeout longer than the whole invocation (60 s step, 30 s function)
    clock = FakeClock(timeout_seconds=30, job_seconds=5)
    handler = sqs_executor(clock.execute, results_queue_url=aws.results_url, sqs_client=aws.sqs)
    # When a batch of two arrives
    response = handler(sqs_event(timed_job("j0", 60), timed_job("j1", 60)), clock)
    # Then the first runs (a fresh invocation would have no more time), the second waits for one
    assert clock.started == ["j0"]
    assert len(response["batchItemFailures"]) == 1


class RecordingSqs:
    """A results queue that accepts every message and remembers the bodies (thread-safe: list appends)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sent.extend(entry["MessageBody"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def test_two_invocations_at_once_each_send_every_result_of_their_own_batch() -> None:
    # Given one handler that two threads invoke at once (the local emulator's pollers do; Lambda never
    # does), the second invocation starting while the first has a result waiting to be sent
    first_waits, second_started = threading.Event(), threading.Event()

    def execute_in_step(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs["x"] == 2:  # the first invocation's second job: hold it until the second invocation runs
            first_waits.set()
            assert second_started.wait(10)
        if inputs["x"] == 3:
            second_started.set()
        return {"x": inputs["x"]}

    sqs = RecordingSqs()
    handler = sqs_executor(execute_in_step, results_queue_url="https://results", sqs_client=sqs)
    responses: dict[str, Any] = {}
    first = threading.Thread(target=lambda: responses.update(
        first=handler(sqs_event(job_body("a1", x=1), job_body("a2", x=2)), None)))
    first.start()
    assert first_waits.wait(10)
    # When the second invocation runs its job to the end while the first is still in its batch
    responses["second"] = handler(sqs_event(job_body("b1", x=3)), None)
    first.join(10)
    # Then neither reports a failure and every job's result was sent, each once
    assert responses == {"first": {"batchItemFailures": []}, "second": {"batchItemFailures": []}}
    assert sorted(json.loads(body)["step"] for body in sqs.sent) == ["a1", "a2", "b1"]
