"""InProcessWorker: ready jobs run at once, and each result is applied as it arrives."""

from __future__ import annotations

import threading
import time

import pytest

import runfox_core as rfx
from runfox_core.backend import InMemoryStore, InProcessRunner, InProcessWorker

SPEC = {
    "steps": [
        {"op": "fast"},
        {"op": "slow"},
        {"op": "after_fast", "depends_on": ["fast"]},
    ],
    "outputs": {"fast": {"var": "steps.fast.output.ok"}, "slow": {"var": "steps.slow.output.ok"}},
}


def test_two_ready_jobs_run_at_the_same_time() -> None:
    # Given two independent steps whose executors each wait for the other to have started
    both_started = threading.Barrier(2, timeout=10)

    def execute(op: str, inputs: dict) -> dict:
        if op in ("fast", "slow"):
            both_started.wait()  # raises BrokenBarrierError (a failed attempt) if run one after another
        return {"ok": True}

    # When the workflow runs with the default worker
    wf = rfx.Workflow.from_dict(SPEC, rfx.Backend(executor=execute))
    # Then both ran together and the execution completes
    assert wf.run(timeout=30) == rfx.Complete({"fast": True, "slow": True})


def test_a_result_is_applied_while_a_slower_sibling_still_runs() -> None:
    # Given a slow step that finishes only once the fast step's successor has run
    after_fast_ran = threading.Event()

    def execute(op: str, inputs: dict) -> dict:
        if op == "slow":
            assert after_fast_ran.wait(timeout=10), "the fast step's result was held back until slow finished"
        if op == "after_fast":
            after_fast_ran.set()
        return {"ok": True}

    runner = InProcessRunner()
    wf = rfx.Workflow.from_dict(SPEC, rfx.Backend(store=InMemoryStore(), runner=runner))
    # When it runs: fast's result must be applied, and after_fast dispatched, while slow is in flight
    result = wf.run(worker=InProcessWorker(runner, execute), timeout=30)
    # Then it completes, and the fast step ended before the slow one
    assert result == rfx.Complete({"fast": True, "slow": True})
    rows = {row["step"]: row for row in wf.timeline()}
    assert rows["fast"]["end"] <= rows["after_fast"]["end"] <= rows["slow"]["end"]


def test_max_concurrency_one_runs_jobs_one_after_another_in_dispatch_order() -> None:
    # Given a worker limited to one job at a time
    order: list[str] = []
    runner = InProcessRunner()
    worker = InProcessWorker(runner, lambda op, inputs: order.append(op) or {"ok": True}, max_concurrency=1)
    wf = rfx.Workflow.from_dict(SPEC, rfx.Backend(store=InMemoryStore(), runner=runner))
    # When the workflow runs
    assert wf.run(worker=worker, timeout=30) == rfx.Complete({"fast": True, "slow": True})
    # Then the jobs ran in the calling thread in the order they were dispatched
    assert order == ["fast", "slow", "after_fast"]
    assert worker.in_flight == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_a_max_concurrency_below_one_or_not_an_integer_is_an_error_naming_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match=f"max_concurrency must be an integer >= 1, got {bad!r}"):
        InProcessWorker(InProcessRunner(), lambda op, inputs: {}, max_concurrency=bad)  # type: ignore[arg-type]


def test_executions_sharing_one_worker_from_several_threads_all_complete() -> None:
    # Given one backend (one worker) and a map whose jobs end while the callers commit or wait
    def execute(op: str, inputs: dict) -> dict:
        if inputs["n"] % 3 == 0:
            time.sleep(0.0005)  # some jobs wait, so lanes end jobs while a caller is not waiting
        return {"ok": True}

    spec = {"steps": [{"id": "each", "map": {"items": list(range(60)), "fn": "work", "input": {"n": {"var": "item"}},
                                              "max_concurrency": 20}}],
            "outputs": {"done": {"var": "steps.each.output.succeeded"}}}
    backend = rfx.Backend(executor=execute)
    results: list[object] = []

    def run_one() -> None:
        results.append(rfx.Workflow.from_dict(spec, backend).run(timeout=30))

    # When three threads each run an execution through it at once
    threads = [threading.Thread(target=run_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then none waits forever for a job another caller counted, and every execution completes
    assert not any(thread.is_alive() for thread in threads)
    assert results == [rfx.Complete({"done": 60})] * 3
    assert isinstance(backend.worker, InProcessWorker) and backend.worker.in_flight == 0
