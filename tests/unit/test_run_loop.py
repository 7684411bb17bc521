"""Workflow.run: results that arrive together are applied in one commit, ending exactly as one by one."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core import operations
from runfox_core.backend import InMemoryStore, InProcessRunner, InProcessWorker
from tests.unit.conftest import BackendFactory, FakeClock

SPEC = {
    "steps": [
        {"id": "seed", "fn": "inc", "input": {"x": {"var": "input.x"}}},
        *({"id": f"w{i}", "fn": "inc", "depends_on": ["seed"], "input": {"x": {"var": "steps.seed.output.x"}}}
          for i in range(6)),
        {"id": "join", "fn": "inc", "depends_on": [f"w{i}" for i in range(6)],
         "input": {"x": {"var": "steps.w5.output.x"}}},
        {"id": "each", "depends_on": ["join"], "map": {
            "items": [1, 2, 3, 4, 5, 6, 7], "fn": "double", "input": {"n": {"var": "item"}}, "max_concurrency": 3}},
    ],
    "outputs": {"x": {"var": "steps.join.output.x"}, "doubled": {"var": "steps.each.output.results"}},
}


def execute(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"x": inputs["x"] + 1} if token == "inc" else {"d": 2 * inputs["n"]}


def run(backend: rfx.Backend, worker: Any = None) -> tuple[rfx.Workflow, Any]:
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"x": 1})
    return wf, wf.run(worker=worker or InProcessWorker(backend.runner, execute, max_concurrency=1), timeout=30)


def run_one_by_one(backend: rfx.Backend) -> tuple[rfx.Workflow, Any]:
    """run()'s loop, applying each result in its own commit (as before results were applied together)."""
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"x": 1})
    worker = InProcessWorker(backend.runner, execute, max_concurrency=1)
    while True:
        result = wf.advance()
        if not isinstance(result, rfx.Dispatch):
            return wf, result
        wf.dispatch(result.jobs)
        worker.run(wf.id)
        for r in backend.gather(wf.id):
            wf.on_step_result(r.step, r.output, run_id=r.run_id, error=r.error, claim_ready=True, item=r.item)


def test_results_applied_together_end_exactly_as_results_applied_one_by_one(make_backend: BackendFactory) -> None:
    # Given the same workflow run twice, its workers answering every ready job before run() applies any
    together_backend = make_backend()
    one_by_one_backend = make_backend()
    # When each runs to its end
    together, ended_together = run(together_backend)
    one_by_one, ended_one_by_one = run_one_by_one(one_by_one_backend)
    # Then both end the same, with the same outputs, statuses and runs
    assert ended_together == ended_one_by_one == rfx.Complete(
        {"x": 4, "doubled": [{"d": 2 * n} for n in range(1, 8)]})
    assert together.state == one_by_one.state
    assert together.step_statuses == one_by_one.step_statuses
    assert [(r["step"], r["run_id"], r["status"]) for r in together.timeline()] == \
        [(r["step"], r["run_id"], r["status"]) for r in one_by_one.timeline()]
    # and the results that arrived together took fewer commits
    assert together_backend.load_header(together.id).version < one_by_one_backend.load_header(one_by_one.id).version


def test_a_result_delivered_twice_in_one_batch_is_applied_once(make_backend: BackendFactory) -> None:
    # Given a worker that files every result twice (a duplicate delivery)
    class Twice:
        def __init__(self, backend: rfx.Backend) -> None:
            self.runner = backend.runner

        def run(self, key: str | None = None) -> int:
            jobs = self.runner.take_pending_jobs()
            for job in jobs:
                result = rfx.StepResult(job.execution_key, job.step, job.run_id,
                                        output=execute(job.token, job.inputs), item=job.item)
                self.runner.submit_work_result(result)
                self.runner.submit_work_result(result)
            return len(jobs)

    backend = make_backend()
    # When the workflow runs
    wf, ended = run(backend, Twice(backend))
    # Then every step and item counted once
    assert ended == rfx.Complete({"x": 4, "doubled": [{"d": 2 * n} for n in range(1, 8)]})
    completed = [e["step"] for e in operations.history(backend, wf.id).events if e["type"] == "step_completed"]
    assert sorted(completed) == sorted(["seed", *(f"w{i}" for i in range(6)), "join", "each"])


def test_a_deadline_passing_while_results_keep_coming_is_not_put_off(clock: FakeClock) -> None:
    # Given a step that never answers, with a 10 s deadline, beside a loop of 100 quick steps whose
    # every result claims the next one (so run() always has claimed jobs to hand over)
    spec = {"steps": [
        {"op": "hang", "timeout_seconds": 10},
        {"op": "tick", "input": {"n": {"var": ["state.n", 0]}},
         "branch": [{"condition": {"<": [{"var": "state.n"}, 100]}, "action": {"set": "tick"}},
                    {"condition": {">=": [{"var": "state.n"}, 100]}, "action": "complete"}]},
    ]}
    runner = InProcessRunner()
    ticks: list[int] = []

    class OneSecondPerTick:
        def run(self, key: str | None = None) -> int:
            jobs = runner.take_pending_jobs()
            for job in jobs:
                if job.step == "tick":
                    ticks.append(job.inputs["n"])
                    clock.advance(1)
                    runner.submit_work_result(rfx.StepResult(job.execution_key, "tick", job.run_id,
                                                             output={"n": job.inputs["n"] + 1}))
            return len(jobs)

    wf = rfx.Workflow.from_dict(spec, rfx.Backend(store=InMemoryStore(), runner=runner, clock=clock))
    # When it runs
    ended = wf.run(worker=OneSecondPerTick(), timeout=3600)
    # Then the hung step timed out as soon as its deadline had passed, not once the loop ran out
    assert isinstance(ended, rfx.Failed) and (ended.error.step, ended.error.type) == ("hang", "TimeoutError")
    assert len(ticks) <= 12
