"""Property: random valid specs (branches, loops, retries, timeouts, failing executors and expressions),
driven event by event through several handles and processes, always end, and no call raises."""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runfox_core as rfx
from runfox_core.backend import InMemoryStore, InProcessRunner, SqliteRunner, SqliteStore
from runfox_core.status import TERMINAL_STEP_STATUSES, TERMINAL_WORKFLOW_STATUSES
from tests.unit.conftest import FakeClock

ENDED = (rfx.Complete, rfx.Halt, rfx.Failed)


def random_spec(rng: random.Random) -> dict[str, Any]:
    """A valid spec: a DAG whose steps may loop, halt, retry with backoff, time out or misread a path."""
    steps: list[dict[str, Any]] = []
    for i in range(rng.randint(1, 6)):
        sid = f"s{i}"
        deps = sorted(rng.sample(range(i), rng.randint(0, min(i, 2))))
        step: dict[str, Any] = {"id": sid, "fn": "work", "depends_on": [f"s{d}" for d in deps],
                                "input": {"me": sid, "count": {"var": [f"state.{sid}_count", 0]}}}
        if deps:
            path = "v" if rng.random() < 0.95 else "vv"  # now and then a typo: a missing path
            step["input"]["up"] = {"var": f"steps.s{deps[0]}.output.{path}"}
        if rng.random() < 0.5:
            step["max_attempts"] = rng.randint(2, 3)
            step["retry"] = {"backoff_seconds": rng.choice([0, 1, 5]), "jitter": False}
        if rng.random() < 0.4:
            step["timeout_seconds"] = rng.choice([1, 10])
        kind = rng.choice(["none", "exit", "exit", "loop", "loop", "halt", "raises"])
        if kind == "exit":
            step["branch"] = [{"condition": True, "action": "complete"}]
        elif kind == "loop":
            step["branch"] = [
                {"condition": {"<": [{"var": f"state.{sid}_count"}, rng.randint(1, 3)]}, "action": {"set": sid}},
                {"condition": True, "action": "complete"}]
        elif kind == "halt":
            step["branch"] = [{"condition": {">": [{"var": "v"}, 0.8]}, "action": "halt", "result": {"by": sid}},
                              {"condition": {"var": "misspelt"}, "action": "complete"}]
        elif kind == "raises":
            step["branch"] = [{"condition": {"/": [1, {"var": "zero"}]}, "action": "complete"}]
        steps.append(step)
    spec: dict[str, Any] = {"steps": steps}
    if rng.random() < 0.5:
        last = steps[-1]["id"]
        spec["outputs"] = {"v": {"var": f"steps.{last}.output.v" if rng.random() < 0.8 else "state.nope"}}
    return spec


def answer(job: rfx.DispatchJob, rng: random.Random) -> tuple[Any, dict[str, str] | None]:
    """What a worker sends back: an output, an error, or (rarely) something that is not an object."""
    roll = rng.random()
    if roll < 0.08:
        return None, {"type": "RuntimeError", "message": "executor raised"}
    if roll < 0.1:
        return ["not", "an", "object"], None
    sid = job.step
    return {"v": rng.random(), "zero": rng.choice([0, 1]), f"{sid}_count": job.inputs["count"] + 1}, None


def drive(backend: rfx.Backend, key: str, rng: random.Random, clock: FakeClock | None, handles: int,
          max_events: int = 3000) -> Any:
    """Advance, deliver (late, twice, or never), fire deadlines and move time, through random handles."""
    pool = [rfx.Workflow.resume(key, backend) for _ in range(handles)]
    in_flight: list[rfx.DispatchJob] = []
    delivered: list[rfx.DispatchJob] = []
    for _ in range(max_events):
        wf = rng.choice(pool)
        roll = rng.random()
        if roll < 0.35:
            result = wf.advance()
            if isinstance(result, rfx.Dispatch):
                in_flight += result.jobs
            elif isinstance(result, ENDED) and not in_flight:
                for other in pool:  # every handle, whatever it did last, knows at once
                    assert other.advance() == result, (other, result)
                    assert other.on_step_result(rng.choice(pool_ops(other)), {}) is None
                return result
        elif roll < 0.75 and in_flight:
            job = in_flight.pop(rng.randrange(len(in_flight)))
            if job.timeout_seconds is not None and rng.random() < 0.1:
                continue  # the worker died: only the deadline can end this attempt
            output, error = answer(job, rng)
            wf.on_step_result(job.step, output, run_id=job.run_id, error=error)
            delivered.append(job)
        elif roll < 0.8 and delivered:
            job = rng.choice(delivered)  # a duplicate, possibly long after
            wf.on_step_result(job.step, answer(job, rng)[0], run_id=job.run_id)
        elif roll < 0.9 and in_flight:
            job = rng.choice(in_flight)
            wf.on_step_timeout(job.step, job.run_id)
        elif clock is not None:
            clock.advance(rng.choice([0.5, 1, 5, 11]))
    raise AssertionError(f"execution {key} did not end within {max_events} events: {pool[0].step_statuses}")


def pool_ops(wf: rfx.Workflow) -> list[str]:
    return list(wf.backend.plan(wf.id).steps)


def check_ended(backend: rfx.Backend, key: str, result: Any) -> None:
    wf = rfx.Workflow.resume(key, backend)
    assert isinstance(result, ENDED)
    assert wf.status in TERMINAL_WORKFLOW_STATUSES
    assert wf.advance() == result  # any handle, any time later, gives the same answer
    assert all(status in TERMINAL_STEP_STATUSES for status in wf.step_statuses.values()), wf.step_statuses


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), handles=st.integers(min_value=1, max_value=3))
def test_every_random_execution_ends_whatever_handles_deliver_in_whatever_order(seed: int, handles: int) -> None:
    rng = random.Random(seed)
    spec = random_spec(rng)
    clock = FakeClock()
    backend = rfx.Backend(store=InMemoryStore(), runner=InProcessRunner(), clock=clock)
    key = rfx.Workflow.from_dict(spec, backend).id
    check_ended(backend, key, drive(backend, key, rng, clock, handles))


def _process(db: str, key: str, seed: int, out: Any) -> None:
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    try:
        result = drive(backend, key, random.Random(seed), None, handles=2)
        out.put(("ended", type(result).__name__))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        out.put(("raised", f"{type(exc).__name__}: {exc}"))


def test_two_processes_driving_one_sqlite_execution_both_see_it_end(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    for seed in (7, 11):
        db = str(tmp_path / f"wf{seed}.db")
        rng = random.Random(seed)
        spec = random_spec(rng)
        for step in spec["steps"]:
            step.pop("timeout_seconds", None)  # real time here: keep the test fast
        backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
        key = rfx.Workflow.from_dict(spec, backend).id
        out = ctx.Queue()
        procs = [ctx.Process(target=_process, args=(db, key, seed * 10 + i, out)) for i in range(2)]
        for p in procs:
            p.start()
        reports = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert all(kind == "ended" for kind, _ in reports), reports
        assert len({what for _, what in reports}) == 1, reports  # both saw the same ending
        final = rfx.Workflow.resume(key, backend).advance()
        check_ended(backend, key, final)
