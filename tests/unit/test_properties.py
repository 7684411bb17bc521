"""Property: however results are ordered, duplicated or delayed, a workflow ends as a clean run does."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import runfox_core as rfx


@st.composite
def dags(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=10))
    steps = []
    for i in range(n):
        deps = sorted(draw(st.sets(st.integers(min_value=0, max_value=i - 1), max_size=3))) if i else []
        step: dict[str, Any] = {"id": f"s{i}", "fn": "sum", "depends_on": [f"s{d}" for d in deps],
                                "input": {"me": i, "up": [{"var": f"steps.s{d}.output.total"} for d in deps]}}
        steps.append(step)
    return {"steps": steps, "outputs": {"totals": {"vars": "steps[*].output.total"}}}


def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # a step's total is its own index plus its dependencies' totals; done_<i> marks it in state
    return {"total": inputs["me"] + sum(inputs["up"]), f"done_{inputs['me']}": True}


def clean_run(spec: dict[str, Any]) -> Any:
    return rfx.Workflow.from_dict(spec, rfx.Backend(executor=execute)).run()


def chaotic_run(spec: dict[str, Any], seed: int) -> Any:
    rng = random.Random(seed)
    backend = rfx.Backend()
    wf = rfx.Workflow.from_dict(spec, backend)
    in_flight: list[Any] = []  # jobs and results "on the wire", delivered in random order, some twice
    result = wf.advance()
    for _ in range(10_000):
        if isinstance(result, rfx.Dispatch):
            in_flight += result.jobs
        elif isinstance(result, (rfx.Complete, rfx.Halt, rfx.Failed)):
            return result, wf.state
        if not in_flight:
            result = wf.advance()
            continue
        item = in_flight.pop(rng.randrange(len(in_flight)))
        if rng.random() < 0.3:
            in_flight.append(item)  # delivered again later
        if isinstance(item, rfx.DispatchJob):
            in_flight.append(rfx.StepResult(item.execution_key, item.step, item.run_id,
                                            output=execute(item.token, item.inputs)))
            result = wf.advance()
        else:
            handle = rfx.Workflow.resume(item.execution_key, backend)  # any process
            handle.on_step_result(item.step, item.output, run_id=item.run_id)
            result = handle.advance()
    raise AssertionError("did not finish")


@settings(max_examples=60, deadline=None)
@given(spec=dags(), seed=st.integers(min_value=0, max_value=2**32))
def test_shuffled_and_duplicated_deliveries_end_like_a_clean_run(spec: dict[str, Any], seed: int) -> None:
    expected = clean_run(spec)
    got, state = chaotic_run(spec, seed)
    assert got == expected
    assert sorted(k for k in state if k.startswith("done_")) == sorted(f"done_{i}" for i in range(len(spec["steps"])))
