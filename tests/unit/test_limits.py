"""Limits end in a clear failure, never a stuck execution: on every backend, before any store limit."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core.engine.records import MAX_ERROR_MESSAGE_CHARS


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


def test_outputs_over_the_payload_limit_fail_the_execution_naming_the_limit_the_step_and_the_size(
        make_backend: Any) -> None:
    # Given two steps whose outputs each fit, but whose workflow outputs resolve to about 450 KB
    spec = {"steps": [{"op": "a"}, {"op": "b"}],
            "outputs": {"a": {"var": "steps.a.output.v"}, "b": {"var": "steps.b.output.v"},
                        "c": {"var": "steps.a.output.v"}}}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=lambda op, i: {"v": "x" * 150_000}))
    # When it runs
    result = wf.run(timeout=10)
    # Then it fails, saying which limit, which step ended the run and how large the outputs were
    assert isinstance(result, rfx.Failed) and result.error.type == "PayloadError"
    assert result.error.step in ("a", "b")
    assert "the outcome (the workflow's outputs) is 450," in result.error.message
    assert "the limit is 196,608 bytes" in result.error.message
    assert wf.status == rfx.WorkflowStatus.FAILED and wf.outcome is None
