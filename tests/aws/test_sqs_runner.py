"""test_sqs_runner.py -- SQSRunner against moto: what dispatch writes and sends, and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_kit import AwsKit, record_calls

from runfox_core import messages
from runfox_core.aws.sqs_runner import TASK_DISPATCHED, SQSRunner
from runfox_core.errors import DispatchError, MessageError, PayloadError, RunfoxError
from runfox_core.results import DispatchJob, StepResult

NOW = 1_700_000_000.0
KEY = "wf#e1"


def runner(aws: AwsKit, **kw: Any) -> SQSRunner:
    kw.setdefault("results_queue_url", aws.results_url)
    return SQSRunner(aws.queues, tasks_table=aws.tasks_table, sqs_client=aws.sqs, dynamodb_client=aws.dynamodb,
                     clock=lambda: NOW, **kw)


def job(step: str, token: str = "op_a", run_id: int = 1, timeout: float | None = None, **inputs: Any) -> DispatchJob:
    return DispatchJob(KEY, step, inputs or {"x": 1}, run_id, token=token, timeout_seconds=timeout)


def assert_nothing_written_or_sent(aws: AwsKit) -> None:
    assert aws.task_rows() == []
    assert [aws.count(url) for url in [*aws.queues.values(), aws.results_url]] == [0, 0, 0]


def test_an_unknown_token_raises_naming_step_and_token_and_nothing_is_written_or_sent(aws: AwsKit) -> None:
    # Given one good job and one whose token has no queue
    jobs = [job("a"), job("b", token="nope")]
    # When they are dispatched
    with pytest.raises(DispatchError, match=r"step 'b'.*'nope'"):
        runner(aws).dispatch(KEY, jobs)
    # Then neither was written nor sent
    assert_nothing_written_or_sent(aws)


def test_a_callable_queue_map_raising_key_error_is_an_unknown_token(aws: AwsKit) -> None:
    def lookup(token: str) -> str:
        return aws.queues[token]

    r = SQSRunner(lookup, aws.results_url, tasks_table=aws.tasks_table, sqs_client=aws.sqs,
                  dynamodb_client=aws.dynamodb)
    with pytest.raises(DispatchError, match="'nope'"):
        r.dispatch(KEY, [job("a"), job("b", token="nope")])
    assert_nothing_written_or_sent(aws)
    r.dispatch(KEY, [job("a")])
    assert aws.count(aws.queues["op_a"]) == 1


@pytest.mark.parametrize("inputs", [{"blob": b"bytes"}, {"big": "x" * 200_000}])
def test_bad_inputs_raise_payload_error_naming_the_step_before_anything_is_written(
    aws: AwsKit, inputs: dict[str, Any]
) -> None:
    jobs = [job("a"), DispatchJob(KEY, "b", inputs, 1, token="op_b")]
    with pytest.raises(PayloadError, match="step 'b' inputs"):
        runner(aws).dispatch(KEY, jobs)
    assert_nothing_written_or_sent(aws)


def test_a_timeout_without_a_results_queue_is_refused_before_anything_is_written(aws: AwsKit) -> None:
    with pytest.raises(DispatchError, match="results_queue_url"):
        runner(aws, results_queue_url=None).dispatch(KEY, [job("a"), job("b", timeout=5)])
    assert_nothing_written_or_sent(aws)


def test_without_a_tasks_table_a_job_is_only_sent_and_nothing_is_written(aws: AwsKit) -> None:
    ddb_calls = record_calls(aws.dynamodb)
    SQSRunner(aws.queues, aws.results_url, sqs_client=aws.sqs).dispatch(KEY, [job("a")])
    assert ddb_calls == [] and aws.task_rows() == []
    assert [m["step"] for m in aws.receive_all(aws.queues["op_a"])] == ["a"]


def test_with_a_tasks_table_each_job_gets_one_audit_row_with_ttl_and_one_message_on_its_op_queue(
        aws: AwsKit) -> None:
    # Given three jobs over two op queues
    jobs = [job("a", x=1), job("b", token="op_b", run_id=3, y=[1.5]), job("c", x=2)]
    # When dispatched
    assert runner(aws, task_ttl_seconds=3600).dispatch(KEY, jobs) == []
    # Then one row per (execution, step, run_id), with inputs, status and TTL
    rows = {row["sk"]["S"]: row for row in aws.task_rows()}
    assert sorted(rows) == ["a#1", "b#3", "c#1"]
    b = rows["b#3"]
    assert b["pk"]["S"] == KEY and b["token"]["S"] == "op_b" and b["status"]["S"] == TASK_DISPATCHED
    assert json.loads(b["inputs"]["S"]) == {"y": [1.5]}
    assert int(b["expires_at"]["N"]) == int(NOW) + 3600
    assert b["created_at"]["S"].startswith("2023-11-14T22:13:20")
    # and one job message per job on its op's queue, exactly the message contract
    on_a = aws.receive_all(aws.queues["op_a"])
    on_b = aws.receive_all(aws.queues["op_b"])
    assert sorted(m["step"] for m in on_a) == ["a", "c"]
    assert on_b == [messages.job_message(jobs[1])]
    assert aws.count(aws.results_url) == 0  # no timeouts, no deadline messages


def test_dispatching_the_same_run_twice_keeps_one_row(aws: AwsKit) -> None:
    r = runner(aws)
    r.dispatch(KEY, [job("a"), job("a")])
    r.dispatch(KEY, [job("a")])
    assert len(aws.task_rows()) == 1


def test_a_job_with_a_timeout_also_sends_a_delayed_deadline_message(aws: AwsKit) -> None:
    calls = record_calls(aws.sqs)
    runner(aws).dispatch(KEY, [job("a", timeout=30.5), job("b", timeout=3600), job("c")])
    sends = {params["QueueUrl"]: params["Entries"] for op, params in calls if op == "SendMessageBatch"}
    deadlines = sends[aws.results_url]
    assert [e.get("DelaySeconds") for e in deadlines] == [31, 900]  # ceil, then SQS's 15-minute cap
    bodies = [json.loads(e["MessageBody"]) for e in deadlines]
    assert bodies[0] == messages.deadline_message(KEY, "a", 1, NOW + 30.5)
    assert bodies[1]["deadline"] == NOW + 3600
    assert all("DelaySeconds" not in e for e in sends[aws.queues["op_a"]])
    assert aws.receive_all(aws.results_url) == []  # still delayed


def test_many_jobs_are_sent_in_batches_of_ten_and_written_in_batches_of_25(aws: AwsKit) -> None:
    calls = record_calls(aws.sqs)
    ddb_calls = record_calls(aws.dynamodb)
    runner(aws).dispatch(KEY, [job(f"s{i:02d}") for i in range(26)])
    assert [len(p["Entries"]) for op, p in calls if op == "SendMessageBatch"] == [10, 10, 6]
    assert [len(p["RequestItems"][aws.tasks_table]) for op, p in ddb_calls] == [25, 1]
    assert len(aws.receive_all(aws.queues["op_a"])) == 26


def test_a_refused_batch_entry_raises_instead_of_passing_silently(aws: AwsKit) -> None:
    class Refusing:
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {"Successful": [], "Failed": [{"Id": "0", "Code": "InternalError", "SenderFault": False}]}

    r = SQSRunner(aws.queues, tasks_table=aws.tasks_table, sqs_client=Refusing(), dynamodb_client=aws.dynamodb)
    with pytest.raises(RunfoxError, match="refused 1 of 1 job messages.*InternalError"):
        r.dispatch(KEY, [job("a")])


def test_wake_deadline_and_worker_results_go_to_the_results_queue(aws: AwsKit) -> None:
    calls = record_calls(aws.sqs)
    r = runner(aws)
    r.schedule_wake(KEY, NOW + 12.2)
    r.schedule_wake(KEY, NOW - 5)
    r.schedule_deadline(KEY, "a", 2, NOW + 5000)
    r.submit_work_result(StepResult(KEY, "a", 1, output={"y": 1}))
    r.submit_work_result(StepResult(KEY, "b", 1, output=["not", "a", "dict"]))
    assert [p.get("DelaySeconds") for _, p in calls] == [13, None, 900, None, None]
    bodies = [json.loads(p["MessageBody"]) for _, p in calls]
    assert bodies[0] == messages.wake_message(KEY, NOW + 12.2)
    assert bodies[2] == messages.deadline_message(KEY, "a", 2, NOW + 5000)
    assert bodies[3] == {"kind": "result", "execution": KEY, "step": "a", "run_id": 1, "output": {"y": 1}}
    assert bodies[4]["error"]["type"] == "PayloadError"


def test_a_runfox_style_result_is_sent_with_its_run_id_and_refused_without_one(aws: AwsKit) -> None:
    calls = record_calls(aws.sqs)
    r = runner(aws)
    r.submit_work_result(KEY, "a", {"y": 1}, run_id=3)
    assert json.loads(calls[0][1]["MessageBody"])["run_id"] == 3
    with pytest.raises(MessageError, match="has no run_id"):
        r.submit_work_result(KEY, "a", {"y": 1})
    assert len(calls) == 1


def test_gather_and_list_pending_jobs_say_why_they_cannot_work(aws: AwsKit) -> None:
    r = runner(aws)
    with pytest.raises(RunfoxError, match="result-router"):
        r.gather(KEY)
    with pytest.raises(RunfoxError, match="take_pending_jobs"):
        r.list_pending_jobs()


def test_take_pending_jobs_claims_each_job_once_and_drops_malformed_messages(aws: AwsKit) -> None:
    r = runner(aws)
    jobs = [job("a"), job("b", token="op_b")]
    r.dispatch(KEY, jobs)
    aws.sqs.send_message(QueueUrl=aws.queues["op_a"], MessageBody="not json")
    taken = r.take_pending_jobs()
    assert sorted(j.step for j in taken) == ["a", "b"]
    assert taken[0] == jobs[0] or taken[1] == jobs[0]
    assert r.take_pending_jobs() == []
    assert aws.count(aws.queues["op_a"]) == 0
