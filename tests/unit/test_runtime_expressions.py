"""At run time a typo'd path is an error naming the keys that exist, and a failing expression ends the
attempt (or, for outputs, the execution) with an error naming the step, the field and the expression."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import expressions
from tests.unit.conftest import BackendFactory


def summarise(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if op == "summarise":
        return {"summary": "short", "tokens": 3}
    return {"text": f"{inputs}"}


def two_steps(publish_input: dict[str, Any]) -> dict[str, Any]:
    return {"steps": [{"op": "summarise"},
                      {"op": "publish", "depends_on": ["summarise"], "input": publish_input}]}


# ------------------------------------------------------------------ missing paths in inputs


def test_a_typo_in_a_step_output_path_fails_the_step_naming_the_keys_that_exist(make_backend: BackendFactory) -> None:
    calls: list[str] = []

    def counting(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append(op)
        return summarise(op, inputs)

    spec = two_steps({"text": {"var": "steps.summarise.output.sumary"}})
    result = rfx.Workflow.from_dict(spec, make_backend(executor=counting)).run()
    assert isinstance(result, rfx.Failed)
    assert (result.error.step, result.error.type) == ("publish", "InputError")
    assert result.error.message == ("step 'publish', input 'text': steps.summarise.output.sumary: "
                                    "no key 'sumary' (keys: summary, tokens)")
    assert calls == ["summarise"]  # the executor never saw the typo


def test_outputs_for_output_is_an_error_naming_the_key_that_exists(make_backend: BackendFactory) -> None:
    spec = two_steps({"text": {"cat": ["doc: ", {"var": "steps.summarise.outputs.summary"}]}})
    result = rfx.Workflow.from_dict(spec, make_backend(executor=summarise)).run()
    assert isinstance(result, rfx.Failed)
    assert "steps.summarise.outputs.summary: no key 'outputs' (keys: output)" in result.error.message


def test_a_missing_state_key_lists_every_state_key(make_backend: BackendFactory) -> None:
    spec = two_steps({"n": {"var": "state.token"}})
    result = rfx.Workflow.from_dict(spec, make_backend(executor=summarise)).run()
    assert isinstance(result, rfx.Failed)
    assert result.error.message.endswith("state.token: no key 'token' (keys: summary, tokens)")


@pytest.mark.parametrize("optional", [
    {"var": ["steps.summarise.output.missing", "none"]},
    {"if": [{"missing": ["steps.summarise.output.missing"]}, "none", {"var": "steps.summarise.output.missing"}]},
    {"if": [{"var": "steps.summarise.output.missing"}, "some", "none"]},
    {"?:": [{"var": "state.missing"}, "some", "none"]},
    {"or": [{"var": "steps.summarise.output.summary"}, {"var": "state.never_read"}]},
])
def test_reading_something_optional_stays_possible_and_explicit(make_backend: BackendFactory, optional: Any) -> None:
    spec = {**two_steps({"v": optional}), "outputs": {"text": {"var": "steps.publish.output.text"}}}
    result = rfx.Workflow.from_dict(spec, make_backend(executor=summarise)).run()
    assert isinstance(result, rfx.Complete), result
    assert result.outcome["text"] in ("{'v': 'none'}", "{'v': 'short'}")


def test_missing_some_still_reports_what_is_missing(make_backend: BackendFactory) -> None:
    spec = {**two_steps({"v": {"missing_some": [1, ["steps.summarise.output.a", "steps.summarise.output.b"]]}}),
            "outputs": {"text": {"var": "steps.publish.output.text"}}}
    result = rfx.Workflow.from_dict(spec, make_backend(executor=summarise)).run()
    assert result == rfx.Complete({"text": "{'v': ['steps.summarise.output.a', 'steps.summarise.output.b']}"})


def test_paths_inside_map_filter_and_reduce_address_the_current_element() -> None:
    context = {"input": {"xs": [1, 2, 3]}, "steps": {}, "state": {}}
    total = {"reduce": [{"var": "input.xs"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
    assert expressions.resolve(total, context) == 6
    assert expressions.resolve({"filter": [{"var": "input.xs"}, {">": [{"var": ""}, 1]}]}, context) == [2, 3]
    assert expressions.resolve({"map": [{"var": "input.xs"}, {"var": "missing.inside"}]}, context) == [None] * 3
    assert expressions.resolve({"all": [{"var": "input.xs"}, {">": [{"var": ""}, 0]}]}, context) is True
    assert expressions.resolve({"some": [{"var": "input.xs"}, {">": [{"var": ""}, 2]}]}, context) is True
    assert expressions.resolve({"none": [{"var": "input.xs"}, {">": [{"var": ""}, 2]}]}, context) is False
    assert expressions.resolve({"all": [[], {"var": ""}]}, context) is False  # JSON Logic: all of nothing is false
    with pytest.raises(expressions.MissingPathError, match="input.ys: no key 'ys' \\(keys: xs\\)"):
        expressions.resolve({"map": [{"var": "input.ys"}, {"var": ""}]}, context)


def test_a_path_through_a_scalar_says_what_it_found() -> None:
    with pytest.raises(expressions.MissingPathError, match=r"state.n.x: no key 'x' \(state.n is int\)"):
        expressions.resolve({"var": "state.n.x"}, {"state": {"n": 1}})


# ------------------------------------------------------------------ conditions


def test_a_condition_reading_a_misspelled_field_is_visible_in_the_record_the_timeline_and_the_log(
        make_backend: BackendFactory, caplog: pytest.LogCaptureFixture) -> None:
    spec = {"steps": [{"op": "moderate", "max_attempts": 2,
                       "branch": [{"condition": {">=": [{"var": "unsfe"}, 0.7]}, "action": "halt"}]}]}
    backend = make_backend(executor=lambda op, inputs: {"unsafe": 0.1})
    wf = rfx.Workflow.from_dict(spec, backend)
    with caplog.at_level(logging.WARNING, logger="runfox_core"):
        assert wf.run() == rfx.Complete({})
    missing = ["unsfe: no key 'unsfe' (keys: input, state, steps, unsafe)"]
    assert backend.load_steps(wf.id)["moderate"].missing_paths == missing
    assert wf.timeline()[0]["missing_paths"] == missing
    assert [getattr(r, "missing_paths", None) for r in caplog.records].count(missing) == 2  # once per attempt


def test_a_condition_that_fires_leaves_no_missing_paths(make_backend: BackendFactory) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": {"var": "nope"}, "action": "halt"},
                                             {"condition": True, "action": "complete"}]}]}
    backend = make_backend(executor=lambda op, inputs: {"ok": 1})
    wf = rfx.Workflow.from_dict(spec, backend)
    assert wf.run() == rfx.Complete({})
    assert wf.timeline()[0]["missing_paths"] is None


# ------------------------------------------------------------------ expressions that raise


@pytest.mark.parametrize(("condition", "raised"), [
    ({"+": ["x", 1]}, "ValueError"),
    ({"/": [1, 0]}, "ZeroDivisionError"),
    ({"<": [None, {"!": [None]}]}, "TypeError"),
])
def test_a_condition_that_raises_fails_the_attempt_naming_step_field_and_expression(
        make_backend: BackendFactory, clock: Any, condition: Any, raised: str) -> None:
    spec = {"steps": [{"op": "a", "max_attempts": 2, "retry": {"backoff_seconds": 5, "jitter": False},
                       "branch": [{"condition": condition, "action": "halt"}]}]}
    backend = make_backend(clock=clock)
    wf = rfx.Workflow.from_dict(spec, backend)
    job = wf.advance().jobs[0]
    retry = wf.on_step_result("a", {"v": 1}, run_id=job.run_id)  # never raises
    assert retry == rfx.Pending(wake_at=clock.now + 5)  # retried with the step's retry policy
    assert wf.state == {}  # the failed attempt merged nothing
    clock.advance(5)
    job = wf.advance().jobs[0]
    failed = wf.on_step_result("a", {"v": 1}, run_id=job.run_id)
    assert isinstance(failed, rfx.Failed)
    assert (failed.error.step, failed.error.type) == ("a", "BranchError")
    assert failed.error.message.startswith(f"step 'a', branch[0].condition: {expressions._compact(condition)}: "
                                           f"{raised}: ")
    assert wf.status == "failed"


def test_a_set_branch_resolving_to_an_unknown_step_fails_the_attempt(make_backend: BackendFactory) -> None:
    spec = {"steps": [{"op": "a", "branch": [
        {"condition": True, "action": {"set": {"if": [True, "zz", "a"]}}},
        {"condition": False, "action": "complete"}]}]}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=lambda op, inputs: {}))
    result = wf.run()
    assert isinstance(result, rfx.Failed)
    assert result.error.type == "BranchError"
    assert result.error.message == ("step 'a', branch[0].action.set: {\"if\":[true,\"zz\",\"a\"]}: "
                                    "LookupError: resolved to 'zz', which is not a step")


def test_outputs_that_raise_fail_the_execution_naming_the_field(make_backend: BackendFactory) -> None:
    spec = {"steps": [{"op": "a"}], "outputs": {"calc": {"+": [None, 1]}}}
    backend = make_backend()
    wf = rfx.Workflow.from_dict(spec, backend)
    job = wf.advance().jobs[0]
    failed = wf.on_step_result("a", {"v": 1}, run_id=job.run_id)
    assert isinstance(failed, rfx.Failed)
    assert (failed.error.step, failed.error.type) == ("outputs", "OutputError")
    assert failed.error.message.startswith('outputs \'calc\': {"+":[null,1]}: TypeError: ')
    assert wf.status == "failed" and wf.advance() == failed


def test_outputs_reading_a_missing_path_fail_the_execution_naming_field_and_path(make_backend: BackendFactory) -> None:
    spec = {"steps": [{"op": "a"}], "outputs": {"total": {"var": "steps.a.output.totl"}}}
    result = rfx.Workflow.from_dict(spec, make_backend(executor=lambda op, inputs: {"total": 1})).run()
    assert result == rfx.Failed(rfx.StepError(step="outputs", run_id=0, type="OutputError",
                                              message="outputs 'total': steps.a.output.totl: no key 'totl' "
                                                      "(keys: total)"))


def test_a_condition_missing_a_state_key_does_not_list_a_partial_view_of_the_state(
        make_backend: BackendFactory) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": {"var": "state.don"}, "action": "halt"}]}]}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=lambda op, inputs: {"done": True}))
    assert wf.run() == rfx.Complete({})
    assert wf.timeline()[0]["missing_paths"] == ["state.don: no key 'don' in state"]
