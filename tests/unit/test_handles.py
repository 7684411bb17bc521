"""Handles are interchangeable: any handle, in any process, answers from what the store holds now."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import runfox_core as rfx
from runfox_core.backend import InProcessWorker, SqliteRunner, SqliteStore
from tests.unit.conftest import BackendFactory

LOOP = {"steps": [{"op": "loop", "input": {"n": {"var": ["state.n", 0]}},
                   "branch": [{"condition": {"<": [{"var": "n"}, 3]}, "action": {"set": "loop"}},
                              {"condition": True, "action": "complete"}]}],
        "outputs": {"n": {"var": "state.n"}}}


def test_advance_after_another_handle_completed_the_execution_says_complete(make_backend: BackendFactory) -> None:
    # Given a handle that claimed the only step, and another handle that applied its result
    backend = make_backend()
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)
    job = wf.advance().jobs[0]
    assert rfx.Workflow.resume(wf.id, backend).on_step_result("a", {"v": 1}, run_id=job.run_id) == rfx.Complete({})
    # When the first handle advances, Then it sees the completion, not its own memory of the claim
    assert wf.status == "complete"
    assert wf.advance() == rfx.Complete({})
    assert wf.run(timeout=1) == rfx.Complete({})


def test_a_result_through_a_handle_that_reset_the_step_lands_after_another_handle_reclaimed_it(
        make_backend: BackendFactory) -> None:
    # Given a loop step reset through wf, then re-claimed through another handle
    backend = make_backend()
    wf = rfx.Workflow.from_dict(LOOP, backend)
    first = wf.advance().jobs[0]
    assert wf.on_step_result("loop", {"n": 1}, run_id=first.run_id) is None  # the set branch reset it
    other = rfx.Workflow.resume(wf.id, backend)
    second = other.advance().jobs[0]
    assert second.run_id == first.run_id + 1
    # When the result of the current run arrives through wf
    wf.on_step_result("loop", {"n": 2}, run_id=second.run_id)
    # Then it is applied (the loop goes round again), not dropped as stale
    assert wf.step_statuses["loop"] == "ready"
    third = rfx.Workflow.resume(wf.id, backend).advance().jobs[0]
    assert third.run_id == second.run_id + 1
    assert wf.on_step_result("loop", {"n": 3}, run_id=third.run_id) == rfx.Complete({"n": 3})


def test_three_handles_take_turns_in_any_order(make_backend: BackendFactory) -> None:
    backend = make_backend()
    spec = {"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"]}, {"op": "c", "depends_on": ["b"]}]}
    handles = [rfx.Workflow.from_dict(spec, backend)]
    handles += [rfx.Workflow.resume(handles[0].id, backend) for _ in range(2)]
    for turn, op in enumerate(["a", "b", "c"]):
        claimer, answerer, idler = handles[turn % 3], handles[(turn + 1) % 3], handles[(turn + 2) % 3]
        job = claimer.advance().jobs[0]
        assert job.step == op
        assert isinstance(idler.advance(), rfx.Pending)  # the claim is seen: nothing more to dispatch
        answerer.on_step_result(op, {"step": op}, run_id=job.run_id)
    assert all(h.advance() == rfx.Complete({}) for h in handles)


def test_a_stale_result_is_still_ignored_when_a_handle_answers_from_fresh_data(make_backend: BackendFactory) -> None:
    backend = make_backend()
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a", "max_attempts": 2}]}, backend)
    job = wf.advance().jobs[0]
    other = rfx.Workflow.resume(wf.id, backend)
    assert other.on_step_result("a", error={"type": "Boom", "message": "x"}, run_id=job.run_id) is not None
    assert wf.on_step_result("a", {"late": True}, run_id=job.run_id) is None  # run 0 was retried: stale
    assert wf.step_statuses["a"] == "retry"


def _finish_elsewhere(db: str, key: str) -> None:
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    rfx.Workflow.resume(key, backend).run(worker=InProcessWorker(backend.runner, lambda op, i: {"op": op}),
                                          timeout=30)


def test_a_handle_sees_an_execution_another_process_finished(tmp_path: Path) -> None:
    # Given a handle that claimed work on a SQLite file
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db, poll_interval=0.001))
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"]}]}, backend)
    jobs = wf.advance().jobs
    backend.dispatch(wf.id, jobs)
    # When another process works the jobs and finishes the execution
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_finish_elsewhere, args=(db, wf.id))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 0
    # Then this handle's run() returns the outcome at once instead of timing out
    worker: Any = InProcessWorker(SqliteRunner(db), lambda op, i: {"op": op})
    assert wf.run(worker=worker, timeout=3) == rfx.Complete({})
