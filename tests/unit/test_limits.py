"""Limits end in a clear failure, never a stuck execution: on every backend, before any store limit."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core.engine.records import MAX_ERROR_MESSAGE_CHARS
from runfox_core.payloads import is_ref, resolve


def test_a_220_kb_error_message_is_cut_to_the_stated_size_and_records_the_original_length(
        make_backend: Any) -> None:
    # Given a step holding 190 KB of inputs whose executor raises with a 220 KB message
    def raise_long(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("e" * 220_000)

    spec = {"steps": [{"op": "big", "input": {"blob": {"var": "input.blob"}}}]}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=raise_long), inputs={"blob": "b" * 190_000})
    # When it runs
    result = wf.run(timeout=10)
    # Then the attempt fails with the message cut to 4,096 characters plus the original length
    assert isinstance(result, rfx.Failed) and result.error.type == "ValueError"
    assert result.error.message == "e" * MAX_ERROR_MESSAGE_CHARS + \
        "... (truncated; the original was 220,000 characters)"
    assert wf.step_statuses["big"] == rfx.StepStatus.FAILED


def test_workflow_outputs_far_over_the_inline_limit_complete_by_reference_and_resolve_to_the_values(
        make_backend: Any) -> None:
    # Given two steps whose workflow outputs resolve to about 450 KB (more than an SQS message holds)
    spec = {"steps": [{"op": "a"}, {"op": "b"}],
            "outputs": {"a": {"var": "steps.a.output.v"}, "b": {"var": "steps.b.output.v"},
                        "c": {"var": "steps.a.output.v"}}}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=lambda op, i: {"v": op * 150_000}))
    # When it runs
    result = wf.run(timeout=10)
    # Then it completes, its outputs stored as references that resolve to the values
    assert isinstance(result, rfx.Complete)
    assert all(is_ref(v) for v in wf.outcome.values())
    assert resolve(wf.outcome) == {"a": "a" * 150_000, "b": "b" * 150_000, "c": "a" * 150_000}
    assert wf.outcome["a"] == wf.outcome["c"]  # the same value is stored once
