"""Every unsound spec is refused before anything is written, naming the step and field."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core.backend import InMemoryStore

A = {"op": "a"}

CASES: list[tuple[str, Any, str | None, str | None, str]] = [
    # (case, spec, step, field, message fragment)
    ("not a mapping", ["steps"], None, "spec", "must be a mapping"),
    ("no steps", {"name": "x"}, None, "steps", "no steps"),
    ("empty steps", {"steps": []}, None, "steps", "non-empty list"),
    ("steps not a list", {"steps": {"a": 1}}, None, "steps", "non-empty list"),
    ("step not a mapping", {"steps": ["a"]}, None, "steps", "must be a mapping"),
    ("missing id", {"steps": [{"input": {}}]}, None, "op", "has no 'op'"),
    ("op and id", {"steps": [{"op": "a", "id": "a", "fn": "f"}]}, None, "op", "both 'op' and 'id'"),
    ("id without fn", {"steps": [{"id": "a"}]}, "a", "fn", "needs 'fn'"),
    ("bad id chars", {"steps": [{"op": "a b"}]}, None, "op", "letters, digits"),
    ("duplicate id", {"steps": [A, A]}, "a", "op", "duplicate step id"),
    ("unknown step key", {"steps": [{"op": "a", "depends": ["b"]}]}, "a", "depends", "unknown key"),
    ("unknown top key", {"steps": [A], "output": {}}, None, "output", "unknown top-level key"),
    ("unknown dependency", {"steps": [{"op": "a", "depends_on": ["z"]}]}, "a", "depends_on", "unknown step 'z'"),
    ("depends_on not a list", {"steps": [{"op": "a", "depends_on": "z"}]}, "a", "depends_on", "must be a list"),
    ("self dependency", {"steps": [{"op": "a", "depends_on": ["a"]}]}, "a", "depends_on", "itself"),
    ("cycle", {"steps": [{"op": "a", "depends_on": ["c"]}, {"op": "b", "depends_on": ["a"]},
                         {"op": "c", "depends_on": ["b"]}]}, "a", "depends_on", "cycle: a -> c -> b -> a"),
    ("input references unknown step", {"steps": [{"op": "a", "input": {"x": {"var": "steps.z.output.x"}}}]},
     "a", "input", "unknown step 'z'"),
    ("input references step not upstream", {"steps": [A, {"op": "b", "input": {"x": {"var": "steps.a.output.x"}}}]},
     "b", "input", "not upstream"),
    ("input reads an unknown root", {"steps": [{"op": "a", "input": {"x": {"var": "inputs.x"}}}]},
     "a", "input", "must start with input., steps. or state."),
    ("input not a mapping", {"steps": [{"op": "a", "input": [1]}]}, "a", "input", "must be a mapping"),
    ("unknown operator in input", {"steps": [{"op": "a", "input": {"x": {"=>": [1, 2]}}}]},
     "a", "input", "unknown JSON Logic operator '=>'"),
    ("unknown operator in condition", {"steps": [{"op": "a", "branch": [
        {"condition": {"gt": [1, 2]}, "action": "halt"}]}]}, "a", "branch", "unknown JSON Logic operator 'gt'"),
    ("unknown nested operator", {"steps": [{"op": "a", "input": {"x": {"+": [1, {"plus": [1]}]}}}]},
     "a", "input", "unknown JSON Logic operator 'plus'"),
    ("condition names unknown step", {"steps": [{"op": "a", "branch": [
        {"condition": {"var": "steps.q.output.x"}, "action": "halt"}]}]}, "a", "branch", "unknown step 'q'"),
    ("outputs name unknown step", {"steps": [A], "outputs": {"x": {"var": "steps.q.output.x"}}},
     None, "outputs", "unknown step 'q'"),
    ("branch not a list", {"steps": [{"op": "a", "branch": {"condition": 1}}]}, "a", "branch", "must be a list"),
    ("branch without condition", {"steps": [{"op": "a", "branch": [{"action": "halt"}]}]},
     "a", "branch", "no condition"),
    ("unknown action", {"steps": [{"op": "a", "branch": [{"condition": True, "action": "stop"}]}]},
     "a", "branch", "action must be halt, complete or"),
    ("set unknown target", {"steps": [{"op": "a", "branch": [
        {"condition": True, "action": {"set": "steps.z.status"}}, {"condition": True, "action": "complete"}]}]},
     "a", "branch", "sets unknown step 'z'"),
    ("set without exit", {"steps": [{"op": "a", "branch": [{"condition": True, "action": {"set": "a"}}]}]},
     "a", "branch", "needs a complete or halt branch"),
    ("set value not ready", {"steps": [{"op": "a", "branch": [
        {"condition": True, "action": {"set": "a", "value": "done"}}, {"condition": True, "action": "complete"}]}]},
     "a", "branch", "value must be 'ready'"),
    ("max_attempts zero", {"steps": [{"op": "a", "max_attempts": 0}]}, "a", "max_attempts", "from 1 to 1000"),
    ("max_attempts not int", {"steps": [{"op": "a", "max_attempts": "3"}]}, "a", "max_attempts", "integer"),
    ("max_attempts bool", {"steps": [{"op": "a", "max_attempts": True}]}, "a", "max_attempts", "integer"),
    ("timeout negative", {"steps": [{"op": "a", "timeout_seconds": -1}]}, "a", "timeout_seconds", "number in"),
    ("retry unknown key", {"steps": [{"op": "a", "retry": {"delay": 1}}]}, "a", "retry", "unknown retry key"),
    ("retry negative", {"steps": [{"op": "a", "retry": {"backoff_seconds": -1}}]}, "a", "retry", ">= 0"),
]


@pytest.mark.parametrize("case, spec, step, field, fragment", CASES, ids=[c[0] for c in CASES])
def test_unsound_spec_is_refused_naming_step_and_field(case: str, spec: Any, step: str | None, field: str | None,
                                                       fragment: str) -> None:
    # Given an unsound spec, When it is validated
    problems = rfx.Workflow.validate(spec)
    # Then one of the problems names the step, the field and what is wrong
    assert any(p.step == step and p.field == field and fragment in p.message for p in problems), problems


class RecordingStore(InMemoryStore):
    """Counts create() calls, to show a refused spec never reaches the store."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []

    def create(self, definition: Any, header: Any) -> None:
        self.created.append(definition.key)
        super().create(definition, header)


@pytest.mark.parametrize("case, spec, step, field, fragment", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_creating_an_unsound_spec_raises_spec_error_and_writes_nothing(case: str, spec: Any, step: Any,
                                                                       field: Any, fragment: str) -> None:
    store = RecordingStore()
    with pytest.raises(rfx.SpecError) as err:
        rfx.Workflow.from_dict(spec, rfx.Backend(store=store))
    assert isinstance(err.value, ValueError)
    assert fragment in str(err.value)
    assert store.created == []


def test_validate_returns_every_problem_at_once() -> None:
    spec = {"steps": [{"op": "a", "depends_on": ["z"], "max_attempts": 0}, {"op": "a"}], "extra": 1}
    messages = [str(p) for p in rfx.Workflow.validate(spec)]
    assert len(messages) == 4, messages


def test_workflow_inputs_must_be_a_mapping() -> None:
    with pytest.raises(rfx.SpecError, match="inputs must be a mapping"):
        rfx.Workflow.from_dict({"steps": [A]}, rfx.Backend(), inputs=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("text, fragment", [
    ("steps: [", "YAML error"),
    ("- just\n- a list\n", "must be a mapping"),
    ("", "empty"),
    ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e]\n", "alias bomb"),
    ("a: " + "[" * 200 + "]" * 200, "deeper than"),
    ("steps: !!python/object:os.system {}", "YAML error"),
])
def test_bad_yaml_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(rfx.SpecError, match=fragment):
        rfx.Workflow.from_yaml(text, rfx.Backend())


def test_literal_dicts_in_input_are_data_and_nested_expressions_resolve() -> None:
    spec = {"steps": [{"op": "a", "input": {"cfg": {"mode": "fast", "n": {"var": "input.n"}},
                                            "list": [{"var": "input.n"}, 2]}}]}
    wf = rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={"n": 7})
    assert wf.advance().jobs[0].inputs == {"cfg": {"mode": "fast", "n": 7}, "list": [7, 2]}


# ---------------------------------------------------------------- warnings

RETRIED = "runs 3 times even when it succeeds; add `{condition: true, action: complete}` as the last branch " \
          "to retry only on failure"


@pytest.mark.parametrize("branch", [
    None,  # the issue: no branch at all
    [{"condition": {">=": [{"var": "unsafe"}, 0.7]}, "action": "halt"}],  # the README's old moderate step
])
def test_a_retried_step_no_branch_completes_is_warned_about_apart_from_the_errors(branch: Any) -> None:
    # Given a step with three attempts and no branch that completes it
    step: dict[str, Any] = {"op": "moderate", "max_attempts": 3}
    if branch is not None:
        step["branch"] = branch
    # When it is validated
    problems = rfx.validate({"steps": [step]})
    # Then it is sound (the list of errors is empty, as before) and warned about
    assert problems == [] and list(problems) == []
    assert [(w.step, w.field, w.message) for w in problems.warnings] == [("moderate", "max_attempts", RETRIED)]


@pytest.mark.parametrize("step", [
    {"op": "a", "max_attempts": 3, "branch": [{"condition": True, "action": "complete"}]},
    {"op": "a", "max_attempts": 1},
    {"op": "a"},
])
def test_a_step_that_completes_on_success_or_runs_once_is_not_warned_about(step: dict[str, Any]) -> None:
    assert rfx.validate({"steps": [step]}).warnings == []


def test_creation_logs_each_warning_and_still_creates(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="runfox_core"):
        rfx.Workflow.from_dict({"steps": [{"op": "moderate", "max_attempts": 3}]}, rfx.Backend())
    assert [r.getMessage() for r in caplog.records] == [
        f"spec warning: step 'moderate', field 'max_attempts': {RETRIED}"]


def test_a_wide_spec_logs_five_of_its_warnings_then_how_many_more_there_are(caplog: Any) -> None:
    steps = [{"op": f"moderate{i}", "max_attempts": 3} for i in range(12)]
    with caplog.at_level(logging.WARNING, logger="runfox_core"):
        rfx.Workflow.from_dict({"steps": steps}, rfx.Backend())
    assert [r.getMessage() for r in caplog.records] == [
        *(f"spec warning: step 'moderate{i}', field 'max_attempts': {RETRIED}" for i in range(5)),
        "spec warning: 7 more like these (Workflow.validate(spec) lists every one)"]


def test_validate_still_reports_errors_as_a_list_alongside_warnings() -> None:
    problems = rfx.Workflow.validate({"steps": [{"op": "a", "max_attempts": 3, "depends_on": ["b"]}]})
    assert isinstance(problems, list)
    assert [str(p) for p in problems] == ["step 'a', field 'depends_on': depends on unknown step 'b'"]
    assert [w.message for w in problems.warnings] == [RETRIED]
