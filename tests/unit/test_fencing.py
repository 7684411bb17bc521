"""Results are fenced by run_id: duplicates, late and unknown results never apply twice."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx

COUNTER = {"steps": [{"op": "add", "input": {"total": {"var": ["state.total", None]}}}],
           "outputs": {"total": {"var": "state.total"}}}


def test_a_result_delivered_twice_is_applied_once(make_backend: Any) -> None:
    seen: list[Any] = []
    backend = make_backend(on_state_change=lambda *args: seen.append(args))
    wf = rfx.Workflow.from_dict(COUNTER, backend)
    wf.advance()
    assert wf.on_step_result("add", {"total": 1}, run_id=0) == rfx.Complete({"total": 1})
    assert wf.on_step_result("add", {"total": 99}, run_id=0) is None
    assert wf.state == {"total": 1}
    assert len(seen) == 1


def test_a_result_for_an_older_run_is_ignored(make_backend: Any) -> None:
    spec = {"steps": [{"op": "a", "max_attempts": 2, "retry": {"backoff_seconds": 0}}]}
    wf = rfx.Workflow.from_dict(spec, make_backend())
    wf.advance()
    wf.on_step_result("a", error={"type": "E", "message": "x"}, run_id=0)
    assert wf.advance().jobs[0].run_id == 1
    assert wf.on_step_result("a", {"late": True}, run_id=0) is None
    assert wf.step_statuses["a"] == rfx.StepStatus.IN_PROGRESS
    assert wf.on_step_result("a", {"ok": True}, run_id=1) == rfx.Complete({})


def test_results_for_steps_not_in_progress_or_unknown_change_nothing(make_backend: Any) -> None:
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"]}]}, make_backend())
    assert wf.on_step_result("b", {"early": 1}) is None  # b was never dispatched
    assert wf.on_step_result("nope", {"x": 1}) is None
    assert wf.state == {}
    assert wf.progress["ready"] == 2


def test_reference_style_result_without_run_id_applies_to_the_current_run(make_backend: Any) -> None:
    wf = rfx.Workflow.from_dict(COUNTER, make_backend())
    wf.advance()
    assert wf.on_step_result("add", {"total": 5}) == rfx.Complete({"total": 5})


def test_a_loop_reset_fences_the_in_flight_run_of_a_parallel_branch(make_backend: Any) -> None:
    # b loops back to a; c (also downstream of a) is in flight and must be re-run, its old answer dropped
    spec = {"steps": [
        {"op": "a"},
        {"op": "b", "depends_on": ["a"], "branch": [
            {"condition": {"<": [{"var": "state.n"}, 2]}, "action": {"set": "a"}},
            {"condition": {">=": [{"var": "state.n"}, 2]}, "action": "complete"}]},
        {"op": "c", "depends_on": ["a"]}]}
    wf = rfx.Workflow.from_dict(spec, make_backend())
    wf.advance()
    wf.on_step_result("a", {}, run_id=0)
    jobs = {j.step: j.run_id for j in wf.advance().jobs}
    assert jobs == {"b": 0, "c": 0}
    wf.on_step_result("b", {"n": 1}, run_id=0)  # loop: a, b and c go back to ready
    assert wf.on_step_result("c", {"stale": True}, run_id=0) is None
    assert {j.step: j.run_id for j in wf.advance().jobs} == {"a": 1}


def test_claimed_jobs_never_confirmed_sent_are_reemitted_after_the_grace(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, unsent_grace_seconds=60)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a", "input": {"x": 1}}]}, backend)
    job = wf.advance().jobs[0]  # claimed, but the process "dies" before backend.dispatch
    assert isinstance(wf.advance(), rfx.Pending)
    clock.advance(61)
    again = rfx.Workflow.resume(wf.id, backend).advance()
    assert isinstance(again, rfx.Dispatch)
    assert (again.jobs[0].op, again.jobs[0].run_id, again.jobs[0].inputs) == ("a", job.run_id, {"x": 1})


def test_dispatched_jobs_are_not_reemitted(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, unsent_grace_seconds=60)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)
    backend.dispatch(wf.id, wf.advance().jobs)
    clock.advance(3600)
    assert isinstance(rfx.Workflow.resume(wf.id, backend).advance(), rfx.Pending)


def test_with_no_grace_a_lost_send_is_reemitted_by_the_next_advance_only() -> None:
    backend = rfx.Backend(unsent_grace_seconds=0)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b"}]}, backend)
    first = wf.advance()
    assert sorted(j.step for j in first.jobs) == ["a", "b"]  # one call emits each claim once
    backend.dispatch(wf.id, first.jobs[:1])  # the send of "b" is lost
    again = rfx.Workflow.resume(wf.id, backend).advance()
    assert [j.step for j in again.jobs] == ["b"]
