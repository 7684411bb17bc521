"""Failed attempts: exceptions and bad outputs are failures, retried with backoff, then fatal."""

from __future__ import annotations

from typing import Any

import pytest

import runfox_core as rfx


def one_step(**step: Any) -> dict[str, Any]:
    return {"steps": [{"op": "work", **step}], "outputs": {"v": {"var": "steps.work.output.v"}}}


def test_executor_that_raises_fails_the_workflow_with_the_error(make_backend: Any) -> None:
    def boom(op: str, i: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    wf = rfx.Workflow.from_dict(one_step(), make_backend(executor=boom))
    result = wf.run(timeout=10)
    assert result == rfx.Failed(rfx.StepError(step="work", run_id=0, type="RuntimeError", message="disk on fire"))
    assert wf.status == rfx.WorkflowStatus.FAILED
    assert wf.outcome is None
    assert wf.error == {"step": "work", "run_id": 0, "type": "RuntimeError", "message": "disk on fire"}
    assert wf.step_statuses["work"] == rfx.StepStatus.FAILED


@pytest.mark.parametrize("bad_output, needle", [
    (None, "must be a JSON object"),
    ([1, 2], "must be a JSON object"),
    ({"v": object()}, "not JSON-serialisable"),
    ({f"k{i}": "x" * 20 for i in range(10_000)}, "the limit is"),  # 300 KB of fields too small to go by reference
])
def test_output_that_is_not_a_json_object_is_a_failed_attempt(make_backend: Any, bad_output: Any, needle: str) -> None:
    wf = rfx.Workflow.from_dict(one_step(), make_backend(executor=lambda op, i: bad_output))
    result = wf.run(timeout=10)
    assert isinstance(result, rfx.Failed)
    assert result.error.type == "PayloadError"
    assert needle in result.error.message


def test_failed_attempts_retry_until_one_succeeds(make_backend: Any) -> None:
    attempts: list[int] = []

    def flaky(op: str, i: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) < 3:
            raise TimeoutError("upstream slow")
        return {"v": len(attempts)}

    wf = rfx.Workflow.from_dict(one_step(max_attempts=3, retry={"backoff_seconds": 0}), make_backend(executor=flaky))
    assert wf.run(timeout=10) == rfx.Complete({"v": 3})
    record = wf.backend.load_steps(wf.id)["work"]
    assert (record.run_id, record.attempt) == (2, 2)


def test_retries_wait_out_an_exponential_backoff(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    wf = rfx.Workflow.from_dict(one_step(max_attempts=4, retry={"backoff_seconds": 2, "jitter": False}), backend)
    delays = []
    for run_id in range(3):
        job = wf.advance().jobs[0]
        assert job.run_id == run_id
        pending = wf.on_step_result("work", error={"type": "E", "message": "no"}, run_id=run_id)
        delays.append(pending.wake_at - clock.now)
        assert isinstance(wf.advance(), rfx.Pending)  # not yet: still backing off
        clock.advance(delays[-1])
    assert delays == [2, 4, 8]
    assert wf.advance().jobs[0].run_id == 3


def test_jitter_keeps_backoff_between_half_and_full_delay(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    wf = rfx.Workflow.from_dict(one_step(max_attempts=2, retry={"backoff_seconds": 10}), backend)
    wf.advance()
    pending = wf.on_step_result("work", error={"type": "E", "message": "no"}, run_id=0)
    assert 5 <= pending.wake_at - clock.now <= 10


def test_a_step_past_its_timeout_is_a_failed_attempt_then_fails_the_workflow(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    wf = rfx.Workflow.from_dict(one_step(timeout_seconds=30, max_attempts=2, retry={"backoff_seconds": 0}), backend)
    assert wf.advance().jobs[0].timeout_seconds == 30
    clock.advance(31)
    retry = wf.advance()  # the deadline passed: attempt 1 failed, attempt 2 dispatched
    assert isinstance(retry, rfx.Dispatch) and retry.jobs[0].run_id == 1
    assert wf.on_step_result("work", {"v": 1}, run_id=0) is None  # the late answer of run 0 is ignored
    clock.advance(31)
    result = wf.advance()
    assert isinstance(result, rfx.Failed)
    assert (result.error.type, result.error.run_id) == ("TimeoutError", 1)


def test_a_deadline_timer_before_the_deadline_asks_to_be_rearmed(clock: Any) -> None:
    wf = rfx.Workflow.from_dict(one_step(timeout_seconds=2000), rfx.Backend(clock=clock))
    wf.advance()
    clock.advance(900)
    assert wf.on_step_timeout("work", 0) == clock.now + 1100
    clock.advance(1100)
    assert wf.on_step_timeout("work", 0) is None
    assert wf.status == rfx.WorkflowStatus.FAILED


def test_unresolvable_inputs_fail_the_workflow_naming_the_step() -> None:
    spec = {"steps": [{"op": "a", "input": {"x": {"/": [1, 0]}}}]}
    result = rfx.Workflow.from_dict(spec, rfx.Backend(executor=lambda op, i: {})).run(timeout=5)
    assert isinstance(result, rfx.Failed)
    assert result.error.type == "InputError" and "'a'" in result.error.message


def test_a_step_without_its_own_timeout_inherits_its_ops_default(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, op_defaults={"work": {"timeout_seconds": 45}, "other": {"timeout_seconds": 1}})
    spec = {"steps": [{"op": "work"}, {"op": "own", "timeout_seconds": 5}]}
    wf = rfx.Workflow.from_dict(spec, backend)
    assert {j.step: j.timeout_seconds for j in wf.advance().jobs} == {"work": 45, "own": 5}


def test_an_answer_arriving_after_the_deadline_is_a_timeout_not_an_output(clock: Any) -> None:
    wf = rfx.Workflow.from_dict(one_step(timeout_seconds=10), rfx.Backend(clock=clock))
    wf.advance()
    clock.advance(11)  # the deadline timer has not been processed yet
    result = wf.on_step_result("work", {"v": 1}, run_id=0)
    assert isinstance(result, rfx.Failed) and result.error.type == "TimeoutError"
