"""On DynamoDBStore too: reused handles answer from the store, expressions that raise fail the attempt,
and steps left open by a halt read cancelled."""

from __future__ import annotations

import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import DynamoDBStore

LOOP = {"steps": [{"op": "loop", "input": {"n": {"var": ["state.n", 0]}},
                   "branch": [{"condition": {"<": [{"var": "n"}, 3]}, "action": {"set": "loop"}},
                              {"condition": True, "action": "complete"}]}],
        "outputs": {"n": {"var": "state.n"}}}


@pytest.fixture
def backend(aws: AwsKit) -> rfx.Backend:
    return rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb))


def test_advance_after_another_handle_completed_it_says_complete(backend: rfx.Backend) -> None:
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)
    job = wf.advance().jobs[0]
    rfx.Workflow.resume(wf.id, backend, steps=["a"]).on_step_result("a", {"v": 1}, run_id=job.run_id)
    assert wf.advance() == rfx.Complete({})


def test_a_result_through_the_handle_that_reset_a_loop_lands_after_another_reclaimed_it(
        backend: rfx.Backend) -> None:
    wf = rfx.Workflow.from_dict(LOOP, backend)
    first = wf.advance().jobs[0]
    wf.on_step_result("loop", {"n": 1}, run_id=first.run_id)
    second = rfx.Workflow.resume(wf.id, backend).advance().jobs[0]
    wf.on_step_result("loop", {"n": 2}, run_id=second.run_id)
    assert wf.step_statuses["loop"] == "ready"


def test_a_condition_that_raises_is_a_failed_attempt(backend: rfx.Backend) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": {"+": ["x", 1]}, "action": "complete"}]},
                      {"op": "b"}]}
    wf = rfx.Workflow.from_dict(spec, backend)
    jobs = {j.step: j for j in wf.advance().jobs}
    failed = wf.on_step_result("a", {"v": 1}, run_id=jobs["a"].run_id)
    assert isinstance(failed, rfx.Failed) and failed.error.type == "BranchError"
    assert wf.step_statuses == {"a": "failed", "b": "cancelled"}
