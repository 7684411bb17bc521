"""History, listing, redrive and rerun through ``operations``, on every local backend."""

from __future__ import annotations

from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import operations
from runfox_core.backend import InProcessWorker
from runfox_core.errors import ExecutionStatusError
from runfox_core.history import EventType, position
from runfox_core.listing import ListQuery
from tests.unit.conftest import BackendFactory

# fetch -> (left, right) -> join; right fails until fixed
DIAMOND = {"steps": [
    {"op": "fetch"},
    {"op": "left", "depends_on": ["fetch"]},
    {"op": "right", "depends_on": ["fetch"], "max_attempts": 2, "retry": {"backoff_seconds": 0},
     "branch": [{"condition": True, "action": "complete"}]},
    {"op": "join", "depends_on": ["left", "right"],
     "input": {"l": {"var": "steps.left.output.n"}, "r": {"var": "steps.right.output.n"}}}],
    "outputs": {"sum": {"+": [{"var": "steps.join.output.l"}, {"var": "steps.join.output.r"}]}}}


class Flaky:
    """An executor whose ``right`` raises while ``broken``; counts every call per op."""

    def __init__(self) -> None:
        self.broken = True
        self.calls: dict[str, int] = {}

    def __call__(self, op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls[op] = self.calls.get(op, 0) + 1
        if op == "right" and self.broken:
            raise RuntimeError("upstream is down")
        if op == "join":
            return {"l": inputs["l"], "r": inputs["r"]}
        return {"n": {"fetch": 1, "left": 2, "right": 3}[op]}


def run_to_end(backend: rfx.Backend, key: str) -> Any:
    return rfx.Workflow(key, backend).run(timeout=10)


def kinds(backend: rfx.Backend, key: str) -> list[str]:
    return [f"{e['type']} {e.get('step', '')}".strip() for e in operations.history(backend, key).events]


def failed_diamond(make_backend: BackendFactory) -> tuple[rfx.Backend, Flaky, str]:
    """The diamond run until right has failed twice; left is complete (its job runs before right's, one
    job at a time, so its answer is never cut off by right's failure ending the run)."""
    flaky = Flaky()
    backend = make_backend(executor=flaky)
    key = operations.start(backend, DIAMOND).execution
    one_at_a_time = InProcessWorker(backend.runner, flaky, max_concurrency=1)
    assert isinstance(rfx.Workflow(key, backend).run(one_at_a_time, timeout=10), rfx.Failed)
    return backend, flaky, key


def test_history_tells_what_happened_in_order_with_the_error_and_the_retry(make_backend: BackendFactory) -> None:
    backend, _, key = failed_diamond(make_backend)
    events = operations.history(backend, key).events
    said = kinds(backend, key)
    assert said[:2] == ["started", "dispatched fetch"]
    assert said.index("step_completed fetch") < said.index("dispatched right")
    assert said.count("attempt_failed right") == 2 and said.count("retried right") == 1
    assert said[-1] == "failed right"
    failure = next(e for e in events if e["type"] == EventType.ATTEMPT_FAILED)
    assert failure["error"] == {"type": "RuntimeError", "message": "upstream is down"}
    assert [position(e) for e in events] == sorted({position(e) for e in events})  # ordered, each once


def test_history_pages_with_the_last_id_seen(make_backend: BackendFactory) -> None:
    backend, _, key = failed_diamond(make_backend)
    everything = operations.history(backend, key).events
    first = operations.history(backend, key, limit=3)
    rest = operations.history(backend, key, after=first.next_after, limit=1000)
    assert first.next_after == everything[2]["id"] and rest.next_after is None
    assert first.events + rest.events == everything


def test_redrive_after_fixing_the_executor_reruns_only_what_failed_and_completes(
        make_backend: BackendFactory) -> None:
    # Given a diamond that failed at right; left ran beside right, so it may have finished before the
    # failure ended the execution (the usual case) or been cut off by it (its answer came too late)
    backend, flaky, key = failed_diamond(make_backend)
    before = dict(flaky.calls)
    completed = {s for s, r in operations.describe(backend, key).steps.items() if r.status == rfx.StepStatus.COMPLETE}
    assert "fetch" in completed and "right" not in completed
    # When the executor is fixed and the execution redriven
    flaky.broken = False
    advanced = operations.redrive(backend, key)
    assert advanced.status in (rfx.WorkflowStatus.IN_PROGRESS, rfx.WorkflowStatus.COMPLETE)  # a worker may be quick
    # Then it completes, the completed steps kept their outputs (not run again), right ran once more
    # (a fresh budget) and join once
    assert isinstance(run_to_end(backend, key), rfx.Complete)
    assert rfx.Workflow(key, backend).outcome == {"sum": 5}
    assert all(flaky.calls[s] == before[s] for s in completed)
    assert flaky.calls["right"] == before["right"] + 1 and flaky.calls["join"] == 1
    steps = operations.describe(backend, key).steps
    assert steps["right"].run_id == 2 and steps["fetch"].run_id == 0
    redriven = [e for e in operations.history(backend, key).events if e["type"] == EventType.REDRIVEN]
    assert redriven[0]["steps"] == sorted({"left", "right"} - completed) and redriven[0]["was"] == "failed"


def test_a_cancelled_execution_redrives_and_its_cancelled_steps_get_a_new_run(make_backend: BackendFactory) -> None:
    backend = make_backend()
    started = operations.start(backend, DIAMOND)
    operations.cancel(backend, started.execution, "maintenance")
    operations.redrive(backend, started.execution)
    steps = operations.describe(backend, started.execution).steps
    assert steps["fetch"].run_id == 1 and steps["fetch"].status == rfx.StepStatus.IN_PROGRESS
    # the job of the cancelled run is fenced off
    wf = rfx.Workflow(started.execution, backend)
    assert wf.on_step_result("fetch", {"n": 1}, run_id=0) is None
    assert operations.describe(backend, started.execution).steps["fetch"].status == rfx.StepStatus.IN_PROGRESS


@pytest.mark.parametrize("ending", ["complete", "running"])
def test_redrive_of_a_completed_or_running_execution_is_refused_and_changes_nothing(
        make_backend: BackendFactory, ending: str) -> None:
    backend = make_backend(executor=lambda op, i: {"n": 1, "l": 1, "r": 1})
    key = operations.start(backend, DIAMOND).execution
    if ending == "complete":
        run_to_end(backend, key)
    version = backend.load_header(key).version
    with pytest.raises(ExecutionStatusError, match="completed|still running"):
        operations.redrive(backend, key)
    assert backend.load_header(key).version == version


def test_rerun_from_a_step_in_place_runs_it_and_its_downstream_again(make_backend: BackendFactory) -> None:
    flaky = Flaky()
    flaky.broken = False
    backend = make_backend(executor=flaky)
    key = operations.start(backend, DIAMOND).execution
    run_to_end(backend, key)
    operations.rerun(backend, key, "left")
    assert isinstance(run_to_end(backend, key), rfx.Complete)
    assert flaky.calls == {"fetch": 1, "left": 2, "right": 1, "join": 2}
    assert operations.describe(backend, key).steps["join"].run_id == 1


def test_rerun_as_a_new_execution_copies_upstream_outputs_and_takes_corrected_inputs(
        make_backend: BackendFactory) -> None:
    backend, flaky, key = failed_diamond(make_backend)
    flaky.broken = False
    copy = operations.rerun(backend, key, "right", new=True, inputs={"fixed": True}, name="retry-1")
    assert copy.created and copy.execution != key
    assert isinstance(run_to_end(backend, copy.execution), rfx.Complete)
    assert backend.load_definition(copy.execution).inputs == {"fixed": True}
    assert flaky.calls["fetch"] == 1 and flaky.calls["left"] == 1  # copied, not run again
    assert rfx.Workflow(key, backend).status == rfx.WorkflowStatus.FAILED  # the original is untouched
    seeded = operations.history(backend, copy.execution).events[0]
    assert seeded["type"] == EventType.REDRIVEN and seeded["copied_from"] == key


def test_rerun_of_an_unknown_step_names_the_steps_and_changes_nothing(make_backend: BackendFactory) -> None:
    backend, _, key = failed_diamond(make_backend)
    version = backend.load_header(key).version
    with pytest.raises(ExecutionStatusError, match="no step 'nope' .*fetch, left, right, join"):
        operations.rerun(backend, key, "nope")
    with pytest.raises(ExecutionStatusError, match="new execution"):
        operations.rerun(backend, key, "right", inputs={"x": 1})
    assert backend.load_header(key).version == version


def test_list_finds_executions_by_status_and_name_newest_first(make_backend: BackendFactory) -> None:
    backend = make_backend()
    keys = [operations.start(backend, DIAMOND, name=f"nightly-{i}").execution for i in range(3)]
    operations.cancel(backend, keys[1])
    cancelled = operations.list_executions(backend, ListQuery(status=rfx.WorkflowStatus.CANCELLED))
    assert [e.execution for e in cancelled.executions] == [keys[1]]
    newest = operations.list_executions(backend, ListQuery(limit=2))
    assert [e.execution for e in newest.executions] == [keys[2], keys[1]] and newest.cursor
    named = operations.list_executions(backend, ListQuery(name_prefix="nightly-"))
    assert [e.name for e in named.executions] == ["nightly-0", "nightly-1", "nightly-2"]


def test_the_stored_event_types_never_change() -> None:
    # stored in every execution's history: renaming one would make old histories unreadable to tools
    assert [str(t) for t in EventType] == [
        "started", "dispatched", "re-emitted", "timed_out", "attempt_failed", "retried", "stale_result_ignored",
        "branch_fired", "no_branch_fired", "step_completed", "reset", "completed", "halted", "failed", "cancelled",
        "redriven", "waiting"]


def test_a_timeout_a_stale_result_and_a_loop_are_in_the_history(make_backend: BackendFactory, clock: Any) -> None:
    backend = make_backend(clock=clock)
    spec = {"steps": [{"op": "slow", "timeout_seconds": 5, "max_attempts": 2, "retry": {"backoff_seconds": 0},
                       "branch": [{"condition": {"<": [{"var": "n"}, 2]}, "action": {"set": ["slow"]}},
                                  {"condition": True, "action": "complete"}]}]}
    started = operations.start(backend, spec)
    key, job = started.execution, started.dispatched[0]
    clock.now += 10
    operations.advance(backend, key)  # past its deadline: the attempt times out and is retried
    wf = rfx.Workflow(key, backend)
    assert wf.on_step_result("slow", {"n": 1}, run_id=job.run_id) is None  # the late answer of run 0: stale
    current = backend.load_steps(key)["slow"]
    wf.on_step_result("slow", {"n": 1}, run_id=current.run_id)  # n < 2: the set branch runs it again
    said = kinds(backend, key)
    assert said[:5] == ["started", "dispatched slow", "timed_out slow", "attempt_failed slow", "retried slow"]
    assert "stale_result_ignored slow" in said and "branch_fired slow" in said and "reset slow" in said
