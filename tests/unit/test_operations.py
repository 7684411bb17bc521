"""Operations on an execution (start, advance, describe, cancel): one home, every local backend."""

from __future__ import annotations

from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import operations
from runfox_core.errors import ExecutionEndedError
from tests.unit.conftest import BackendFactory, FakeClock

# a fans out to b and c (c retries with backoff); d joins them
FAN = {"steps": [
    {"op": "a"},
    {"op": "b", "depends_on": ["a"], "timeout_seconds": 30},
    {"op": "c", "depends_on": ["a"], "max_attempts": 3, "retry": {"backoff_seconds": 10},
     "branch": [{"condition": True, "action": "complete"}]},
    {"op": "d", "depends_on": ["b", "c"]}],
    "outputs": {"done": True}}


def counting(backend: rfx.Backend) -> list[rfx.DispatchJob]:
    """Every job the runner is handed from now on."""
    sent: list[rfx.DispatchJob] = []
    dispatch = backend.runner.dispatch

    def counted(key: str, jobs: list[rfx.DispatchJob]) -> Any:
        sent.extend(jobs)
        return dispatch(key, jobs)

    backend.runner.dispatch = counted  # type: ignore[method-assign]
    return sent


def mid_run(backend: rfx.Backend) -> tuple[str, dict[str, rfx.DispatchJob]]:
    """FAN with a complete, b in flight (with a deadline) and c waiting out its retry backoff."""
    started = operations.start(backend, FAN)
    wf = rfx.Workflow(started.execution, backend)
    wf.on_step_result("a", {"x": 1}, run_id=started.dispatched[0].run_id)
    jobs = {j.step: j for j in operations.advance(backend, started.execution).dispatched}
    assert wf.on_step_result("c", error={"type": "E", "message": "x"}, run_id=jobs["c"].run_id) is not None
    return started.execution, jobs


def test_start_with_a_name_twice_finds_the_same_execution_and_a_different_request_is_refused(
        make_backend: BackendFactory) -> None:
    backend = make_backend()
    first = operations.start(backend, FAN, name="job-1")
    again = operations.start(backend, FAN, name="job-1")
    assert (again.execution, again.created, first.created) == (first.execution, False, True)
    with pytest.raises(rfx.ExecutionExistsError, match="job-1"):
        operations.start(backend, FAN, {"other": 1}, name="job-1")


def test_describe_reports_each_step_with_its_run_status_duration_and_error(
        make_backend: BackendFactory, clock: FakeClock) -> None:
    backend = make_backend(clock=clock)
    key, _ = mid_run(backend)
    clock.advance(2)
    described = operations.describe(backend, key)
    assert described.status == rfx.WorkflowStatus.IN_PROGRESS
    assert described.step_statuses == {"a": "complete", "b": "in_progress", "c": "retry", "d": "ready"}
    assert described.steps["c"].run_id == 1 and described.steps["c"].error["type"] == "E"
    assert described.steps["a"].seconds == 0.0 and described.steps["b"].seconds == 2.0
    assert described.steps["d"].depends_on == ("b", "c") and described.state == {"x": 1}
    assert described.progress["total"] == 4 and described.elapsed == 2.0
    assert described.to_dict()["steps"][1] == {
        "step": "b", "run_id": 0, "status": "in_progress", "start": described.steps["b"].start, "end": None,
        "seconds": 2.0, "missing_paths": None, "token": "b", "attempt": 0, "error": None, "depends_on": ["a"]}


def test_the_workflow_properties_read_the_same_description(make_backend: BackendFactory, clock: FakeClock) -> None:
    backend = make_backend(clock=clock)
    key, _ = mid_run(backend)
    wf, described = rfx.Workflow(key, backend), operations.describe(backend, key)
    assert (wf.status, wf.step_statuses, wf.progress, wf.timeline()) == (
        described.status, described.step_statuses, described.progress, described.timeline())


def test_cancel_ends_the_execution_and_every_open_step_reads_cancelled(make_backend: BackendFactory) -> None:
    backend = make_backend()
    key, _ = mid_run(backend)
    cancelled = operations.cancel(backend, key, reason="wrong inputs")
    assert cancelled.to_dict() == {"execution": key, "status": "cancelled", "dispatched": [],
                                   "reason": "wrong inputs"}
    described = operations.describe(backend, key)
    assert described.status == "cancelled" and described.outcome == {"reason": "wrong inputs"}
    assert described.step_statuses == {"a": "complete", "b": "cancelled", "c": "cancelled", "d": "cancelled"}


def test_cancel_writes_the_header_alone_whatever_the_width(make_backend: BackendFactory) -> None:
    backend = make_backend()
    wide = {"steps": [{"op": f"s{i}"} for i in range(50)]}
    key = operations.start(backend, wide).execution
    commits: list[Any] = []
    commit = backend.store.commit

    def recorded(k: str, c: Any) -> None:
        commits.append(c)
        commit(k, c)

    backend.store.commit = recorded  # type: ignore[method-assign]
    operations.cancel(backend, key)
    assert len(commits) == 1 and commits[0].steps == {} and commits[0].state == {}
    assert len(commits[0].unsent_remove) <= 50  # the unsent claims, as deltas on the header


def test_after_cancel_returns_nothing_is_dispatched_by_advances_late_results_or_timers(
        make_backend: BackendFactory, clock: FakeClock) -> None:
    backend = make_backend(clock=clock)
    key, jobs = mid_run(backend)
    sent = counting(backend)
    operations.cancel(backend, key)
    wf = rfx.Workflow.resume(key, backend)
    # late results, the retry's backoff passing, the deadline passing, and advances in between
    assert wf.on_step_result("b", {"y": 2}, run_id=jobs["b"].run_id) is None
    clock.advance(60)
    assert wf.on_step_timeout("b", jobs["b"].run_id) is None
    for _ in range(3):
        assert operations.advance(backend, key).status == "cancelled"
    assert wf.run(timeout=1) == rfx.Cancelled(None)
    assert sent == [] and operations.describe(backend, key).state == {"x": 1}


def test_cancelling_twice_is_harmless(make_backend: BackendFactory) -> None:
    backend = make_backend()
    key, _ = mid_run(backend)
    operations.cancel(backend, key, "first")
    assert operations.cancel(backend, key, "second").result == rfx.Cancelled("first")


def test_cancelling_a_finished_execution_is_an_error_naming_how_it_ended_and_changes_nothing(
        make_backend: BackendFactory) -> None:
    backend = make_backend()
    key = operations.start(backend, {"steps": [{"op": "a"}]}).execution
    wf = rfx.Workflow(key, backend)
    wf.run(worker=_Echo(backend))
    before = backend.store.load_header(key)
    with pytest.raises(ExecutionEndedError, match=r"has already ended \(complete\)") as raised:
        operations.cancel(backend, key)
    assert raised.value.status == "complete" and backend.store.load_header(key) == before


def test_an_unknown_execution_is_an_error_for_every_operation(make_backend: BackendFactory) -> None:
    backend = make_backend()
    for operation in (operations.advance, operations.describe, operations.cancel):
        with pytest.raises(rfx.ExecutionNotFoundError, match="nope#nothing"):
            operation(backend, "nope#nothing")


class _Echo:
    """A worker answering every pending job of the execution with its inputs."""

    def __init__(self, backend: rfx.Backend):
        self.backend = backend

    def run(self, key: str) -> None:
        for job in self.backend.take_tasks():
            self.backend.submit_result(job.execution_key, job.step, dict(job.inputs), run_id=job.run_id)
