"""The event-driven operations the Lambdas wrap: start, advance, and the result router."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core import driver, messages
from runfox_core.results import StepResult

CHAIN = {"steps": [{"op": "a", "input": {"n": {"var": "input.n"}}},
                   {"op": "b", "depends_on": ["a"], "input": {"n": {"var": "steps.a.output.n"}}}],
         "outputs": {"n": {"var": "steps.b.output.n"}}}


def result_body(job: rfx.DispatchJob, output: dict[str, Any]) -> str:
    return messages.encode(messages.result_message(StepResult(job.execution_key, job.step, job.run_id, output)))


def test_start_creates_advances_and_reports_what_it_dispatched() -> None:
    backend = rfx.Backend()
    started = driver.start_execution(backend, CHAIN, {"n": 1})
    assert started.created
    assert started.to_dict()["dispatched"] == [{"step": "a", "token": "a", "run_id": 0}]
    assert [j.step for j in backend.pending_tasks()] == ["a"]


def test_start_with_a_used_name_returns_the_existing_execution() -> None:
    backend = rfx.Backend()
    first = driver.start_execution(backend, CHAIN, {"n": 1}, name="job-1")
    again = driver.start_execution(backend, CHAIN, {"n": 1}, name="job-1")
    assert (again.execution, again.created, again.dispatched) == (first.execution, False, [])


def test_router_applies_results_and_advances_each_execution_once_per_batch() -> None:
    backend = rfx.Backend()
    one = driver.start_execution(backend, CHAIN, {"n": 1})
    two = driver.start_execution(backend, CHAIN, {"n": 2})
    jobs = backend.take_tasks()
    bodies = [result_body(j, {"n": j.inputs["n"] * 10}) for j in jobs]
    bodies += [bodies[0]]  # the first result delivered twice in the same batch
    router = driver.ResultRouter(backend, bodies)
    for body in bodies:
        router.handle(body)
    assert sorted(a.execution for a in router.advanced) == sorted([one.execution, two.execution])
    assert sorted(j.inputs["n"] for j in backend.take_tasks()) == [10, 20]


def test_router_drops_results_for_unknown_executions() -> None:
    backend = rfx.Backend()
    body = messages.encode({"kind": "result", "execution": "nope#x", "step": "a", "run_id": 0, "output": {}})
    router = driver.ResultRouter(backend, [body])
    router.handle(body)
    assert router.advanced == []


def test_a_dead_lettered_job_becomes_a_failed_attempt() -> None:
    backend = rfx.Backend()
    started = driver.start_execution(backend, CHAIN, {"n": 1})
    job = backend.take_tasks()[0]
    router = driver.ResultRouter(backend, [messages.encode(messages.job_message(job))])
    router.handle(messages.encode(messages.job_message(job)))
    wf = rfx.Workflow.resume(started.execution, backend)
    assert wf.status == rfx.WorkflowStatus.FAILED
    assert wf.error["type"] == driver.DEAD_LETTER_ERROR


def test_advance_is_idempotent() -> None:
    backend = rfx.Backend()
    started = driver.start_execution(backend, CHAIN, {"n": 1})
    for _ in range(3):
        assert driver.advance_execution(backend, started.execution).dispatched == []
    assert len(backend.pending_tasks()) == 1


def test_advance_arms_a_wake_timer_for_a_retry_in_backoff(clock: Any) -> None:
    from runfox_core.backend import InProcessRunner

    wakes: list[tuple[str, float]] = []

    class Timers(InProcessRunner):
        def schedule_wake(self, key: str, at: float) -> None:
            wakes.append((key, at))

    backend = rfx.Backend(runner=Timers(), clock=clock)
    spec = {"steps": [{"op": "a", "max_attempts": 2, "retry": {"backoff_seconds": 5, "jitter": False}}]}
    started = driver.start_execution(backend, spec)
    job = backend.take_tasks()[0]
    body = messages.encode(messages.result_message(
        StepResult(started.execution, "a", job.run_id, error={"type": "E", "message": "x"})))
    router = driver.ResultRouter(backend, [body])
    router.handle(body)
    safety = (started.execution, clock.now + backend.unsent_grace_seconds)
    assert wakes == [safety, (started.execution, clock.now + 5)]


def test_the_router_counts_what_each_applied_message_did() -> None:
    backend = rfx.Backend()
    spec = {"steps": [{"op": "a", "max_attempts": 2, "retry": {"backoff_seconds": 0}},
                      {"op": "b", "depends_on": ["a"]}]}
    started = driver.start_execution(backend, spec)
    job = backend.take_tasks()[0]
    failed = messages.encode(messages.result_message(
        StepResult(started.execution, "a", job.run_id, error={"type": "E", "message": "x"})))
    router = driver.ResultRouter(backend, [failed, failed])  # the second is a duplicate: not counted
    for body in (failed, failed):
        router.handle(body)
    assert router.counts == {"StepsRetried": 1}
    retry = backend.take_tasks()[0]
    ok = messages.encode(messages.result_message(StepResult(started.execution, "a", retry.run_id, output={})))
    router = driver.ResultRouter(backend, [ok])
    router.handle(ok)
    b = backend.take_tasks()[0]
    done = messages.encode(messages.result_message(StepResult(started.execution, "b", b.run_id, output={})))
    router.handle(done)
    assert router.counts == {"StepsCompleted": 2, "WorkflowsCompleted": 1}


def test_a_malformed_body_fails_only_its_own_record_not_the_batch() -> None:
    backend = rfx.Backend()
    started = driver.start_execution(backend, CHAIN, {"n": 1})
    good = result_body(backend.take_tasks()[0], {"n": 10})
    bad = "[" * 100_000 + "]" * 100_000
    router = driver.ResultRouter(backend, [bad, good])  # building the router must not raise
    try:
        router.handle(bad)
        raise AssertionError("a malformed body must raise MessageError")
    except rfx.MessageError:
        pass
    router.handle(good)
    assert [a.execution for a in router.advanced] == [started.execution]


FAN = {"steps": [{"op": "seed"},
                 *({"id": f"w{i}", "fn": "work", "depends_on": ["seed"], "input": {"i": i}} for i in range(4)),
                 {"op": "join", "depends_on": [f"w{i}" for i in range(4)]}],
       "outputs": {"n": {"var": "steps.join.output.n"}}}


def counting_commits(backend: rfx.Backend) -> list[int]:
    """Record the number of step records in each commit the store takes."""
    commits: list[int] = []
    commit = backend.store.commit

    def counted(key: str, change: Any) -> None:
        commits.append(len(change.steps))
        commit(key, change)

    backend.store.commit = counted  # type: ignore[method-assign]
    return commits


def route(backend: rfx.Backend, bodies: list[str]) -> dict[str, Exception]:
    router = driver.ResultRouter(backend, bodies)
    failed = {}
    for body in bodies:
        try:
            router.handle(body)
        except Exception as exc:  # noqa: BLE001 -- the record fails
            failed[body] = exc
    return failed


def test_a_batch_of_results_for_one_execution_is_applied_in_one_commit() -> None:
    # Given four workers in flight
    backend = rfx.Backend()
    started = driver.start_execution(backend, FAN)
    route(backend, [result_body(backend.take_tasks()[0], {})])
    workers = backend.take_tasks()
    commits = counting_commits(backend)
    # When their four results arrive in one batch
    route(backend, [result_body(j, {f"k{j.inputs['i']}": 1}) for j in workers])
    # Then one commit applies them all and claims the join they made ready
    assert commits == [5]
    assert [j.step for j in backend.take_tasks()] == ["join"]
    assert rfx.Workflow(started.execution, backend).state == {"k0": 1, "k1": 1, "k2": 1, "k3": 1}


def test_a_malformed_message_in_a_batch_is_dropped_alone() -> None:
    backend = rfx.Backend()
    driver.start_execution(backend, FAN)
    route(backend, [result_body(backend.take_tasks()[0], {})])
    bodies = [result_body(j, {}) for j in backend.take_tasks()]
    bodies.insert(2, '{"kind": "result", "execution": "x"}')
    commits = counting_commits(backend)
    failed = route(backend, bodies)
    assert list(failed) == [bodies[2]] and isinstance(failed[bodies[2]], rfx.MessageError)
    assert len(commits) == 1 and [j.step for j in backend.take_tasks()] == ["join"]


def test_a_result_that_raises_fails_only_its_own_record(monkeypatch: Any) -> None:
    from runfox_core.engine import transitions

    backend = rfx.Backend()
    started = driver.start_execution(backend, FAN)
    route(backend, [result_body(backend.take_tasks()[0], {})])
    bodies = [result_body(j, {}) for j in backend.take_tasks()]
    apply_result = transitions.apply_result

    def faulty(txn: Any, sid: str, *args: Any) -> Any:
        if sid == "w2":
            raise RuntimeError("reading w2's output failed")
        return apply_result(txn, sid, *args)

    monkeypatch.setattr(transitions, "apply_result", faulty)
    failed = route(backend, bodies)
    assert list(failed) == [bodies[2]] and "w2's output" in str(failed[bodies[2]])
    statuses = rfx.Workflow(started.execution, backend).step_statuses
    assert [statuses[f"w{i}"] for i in range(4)] == ["complete", "complete", "in_progress", "complete"]
    monkeypatch.setattr(transitions, "apply_result", apply_result)
    assert route(backend, [bodies[2]]) == {}  # redelivered: applied, and the join is claimed
    assert [j.step for j in backend.take_tasks()] == ["join"]


def test_a_duplicate_inside_one_batch_is_applied_once() -> None:
    backend = rfx.Backend()
    spec = {"steps": [{"id": "sq", "map": {"items": [1, 2, 3], "fn": "square", "input": {"v": {"var": "item"}}}}],
            "outputs": {"out": {"var": "steps.sq.output"}}}
    started = driver.start_execution(backend, spec)
    jobs = backend.take_tasks()
    bodies = [messages.encode(messages.result_message(StepResult(j.execution_key, j.step, j.run_id,
                                                                 {"sq": j.inputs["v"] ** 2}, item=j.item)))
              for j in jobs]
    router = driver.ResultRouter(backend, [bodies[0], *bodies, bodies[1]])
    for body in [bodies[0], *bodies, bodies[1]]:
        router.handle(body)
    assert router.advanced[-1].result == rfx.Complete({"out": {
        "succeeded": 3, "failed": 0, "errors": [], "results": [{"sq": 1}, {"sq": 4}, {"sq": 9}]}})
    assert rfx.Workflow(started.execution, backend).outcome["out"]["succeeded"] == 3


def test_the_advance_after_a_result_batch_reads_no_header_when_nothing_is_due() -> None:
    backend = rfx.Backend()
    driver.start_execution(backend, FAN)
    route(backend, [result_body(backend.take_tasks()[0], {})])
    bodies = [result_body(j, {}) for j in backend.take_tasks()]
    reads: list[str] = []
    load_header = backend.store.load_header
    backend.store.load_header = lambda key: reads.append(key) or load_header(key)  # type: ignore[method-assign]
    route(backend, bodies)
    assert len(reads) == 1  # to apply the batch; the advance after it answers from that commit
    assert [j.step for j in backend.take_tasks()] == ["join"]


def test_a_deadline_passed_when_a_batch_commits_is_still_expired_by_the_advance_after_it(clock: Any) -> None:
    # Given two steps in flight, one with a 10-second deadline
    backend = rfx.Backend(clock=clock)
    started = driver.start_execution(backend, {"steps": [{"op": "a", "timeout_seconds": 10}, {"op": "b"}]})
    jobs = {j.step: j for j in backend.take_tasks()}
    # When the other's result arrives after that deadline
    clock.advance(11)
    router = driver.ResultRouter(backend, [result_body(jobs["b"], {})])
    router.handle(result_body(jobs["b"], {}))
    # Then the advance that follows looks afresh and fails the late step
    assert router.advanced[-1].status == rfx.WorkflowStatus.FAILED
    assert rfx.Workflow(started.execution, backend).error["type"] == "TimeoutError"
