"""Every JSON Logic form json-logic-path evaluates is accepted; a mistyped operator is an error, data stays data."""

from __future__ import annotations

from typing import Any

import pytest
from json_logic_path import operations

import runfox_core as rfx
from runfox_core.expressions import OPERATORS

INPUTS = {"xs": [1, 2, 3], "n": 2, "s": "ab", "doc": {"a": 1}}
N = {"var": "input.n"}
XS = {"var": "input.xs"}

# One valid form per operator json-logic-path implements, and what it gives on INPUTS.
FORMS: dict[str, tuple[Any, Any]] = {
    "==": ({"==": [N, 2]}, True),
    "===": ({"===": [N, 2]}, True),
    "!=": ({"!=": [N, 2]}, False),
    "!==": ({"!==": [N, "2"]}, True),
    ">": ({">": [N, 1]}, True),
    ">=": ({">=": [N, 2]}, True),
    "<": ({"<": [N, 1]}, False),
    "<=": ({"<=": [1, N, 3]}, True),
    "!": ({"!": [N]}, False),
    "!!": ({"!!": [N]}, True),
    "%": ({"%": [N, 2]}, 0),
    "and": ({"and": [True, N]}, 2),
    "or": ({"or": [False, N]}, 2),
    "?:": ({"?:": [N, "yes", "no"]}, "yes"),
    "if": ({"if": [{">": [N, 5]}, "big", {">": [N, 1]}, "medium", "small"]}, "medium"),
    "log": ({"log": N}, 2),
    "in": ({"in": ["a", {"var": "input.s"}]}, True),
    "cat": ({"cat": ["x", {"var": "input.s"}]}, "xab"),
    "+": ({"+": [N, 1]}, 3),
    "*": ({"*": [N, 3]}, 6.0),
    "-": ({"-": [N, 5]}, -3),
    "/": ({"/": [N, 4]}, 0.5),
    "min": ({"min": [N, 5]}, 2),
    "max": ({"max": [N, 5]}, 5),
    "merge": ({"merge": [XS, [4]]}, [1, 2, 3, 4]),
    "count": ({"count": [XS]}, 3),
    "map": ({"map": [XS, {"*": [{"var": ""}, 2]}]}, [2.0, 4.0, 6.0]),
    "filter": ({"filter": [XS, {">": [{"var": ""}, 1]}]}, [2, 3]),
    "reduce": ({"reduce": [XS, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}, 6),
    "var": ({"var": "input.doc.a"}, 1),
    "vars": ({"vars": "input.xs[*]"}, [1, 2, 3]),
    "missing": ({"missing": ["input.n", "input.zz"]}, ["input.zz"]),
    "missing_some": ({"missing_some": [1, ["input.n", "input.zz"]]}, []),
    # standard JSON Logic that json-logic-path lacks; the engine evaluates them itself
    "all": ({"all": [XS, {">": [{"var": ""}, 0]}]}, True),
    "some": ({"some": [XS, {">": [{"var": ""}, 2]}]}, True),
    "none": ({"none": [XS, {">": [{"var": ""}, 5]}]}, True),
}


def test_the_walk_covers_every_operator_the_engine_evaluates() -> None:
    # A new json-logic-path operator fails here until it has a form above
    assert set(FORMS) == set(operations) | {"all", "some", "none"} == OPERATORS


def test_every_operator_is_accepted_in_an_input_and_evaluated_before_the_executor_runs() -> None:
    # Given one step whose input holds one form of every operator
    seen: dict[str, Any] = {}

    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        seen.update(inputs)
        return {}

    spec = {"steps": [{"op": "probe", "input": {op: form for op, (form, _) in FORMS.items()}}]}
    assert rfx.validate(spec, INPUTS) == []
    # When it runs, Then each reached the executor evaluated
    assert isinstance(rfx.Workflow.from_dict(spec, rfx.Backend(executor=execute), inputs=INPUTS).run(), rfx.Complete)
    assert seen == {op: value for op, (_, value) in FORMS.items()}


@pytest.mark.parametrize("op", sorted(FORMS))
def test_every_operator_is_accepted_in_a_branch_condition(op: str) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": FORMS[op][0], "action": "complete"}]}]}
    assert rfx.validate(spec, INPUTS) == []


def test_the_issues_reduce_over_an_input_list_is_accepted_and_sums_it() -> None:
    # Given the reduce the issue saw refused ("reads 'accumulator': paths must start with input.")
    total = {"reduce": [{"var": "input.xs"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
    spec = {"steps": [{"op": "sum", "input": {"total": total}}], "outputs": {"total": total}}
    # When it runs, Then it validates and sums
    result = rfx.Workflow.from_dict(spec, rfx.Backend(executor=lambda op, i: {}), inputs={"xs": [1, 2, 3]}).run()
    assert result == rfx.Complete({"total": 6})


def test_map_and_filter_rules_read_fields_of_the_element() -> None:
    spec = {"steps": [{"op": "a", "input": {
        "names": {"map": [{"var": "input.people"}, {"var": "name"}]},
        "adults": {"filter": [{"var": "input.people"}, {">=": [{"var": "age"}, 18]}]}}}]}
    people = [{"name": "ann", "age": 30}, {"name": "bob", "age": 9}]
    job = rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={"people": people}).advance().jobs[0]
    assert job.inputs == {"names": ["ann", "bob"], "adults": [people[0]]}


@pytest.mark.parametrize("expression, problem", [
    ({"map": [{"var": "inptu.xs"}, {"var": ""}]}, "reads 'inptu': paths must start with input., steps. or state."),
    ({"reduce": [{"var": "steps.z.output.xs"}, {"var": "current"}, 0]}, "references unknown step 'z'"),
    ({"map": {"var": "input.xs"}}, "'map' takes [list, rule]"),
    ({"reduce": [{"var": "input.xs"}]}, "'reduce' takes [list, rule, initial value]"),
])
def test_paths_outside_the_rule_are_still_checked(expression: Any, problem: str) -> None:
    spec = {"steps": [{"op": "a", "input": {"v": expression}}]}
    assert any(problem in p.message for p in rfx.validate(spec)), rfx.validate(spec)


# ------------------------------------------------------------ operator typos


@pytest.mark.parametrize("typo, meant", [
    ({"vr": "input.x"}, "var"),  # the issue: today this reaches the executor as a mapping
    ({"Var": "input.x"}, "var"),
    ({"VAR": ["input.x", 0]}, "var"),
    ({"vra": "steps.a.output.x"}, "var"),
    ({"iff": [{"var": "input.x"}, 1, 2]}, "if"),
    ({"IF": [{"var": "input.x"}, 1, 2]}, "if"),
    ({"mx": [{"var": "input.x"}, 2]}, "max"),
    ({"reduec": [{"var": "input.x"}, {"var": "current"}, 0]}, "reduce"),
])
def test_a_mistyped_operator_at_the_top_of_an_input_value_is_an_error_saying_what_was_meant(
        typo: Any, meant: str) -> None:
    # Given the issue's mistake: input: {x: {vr: input.x}}
    spec = {"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"], "input": {"x": typo}}]}
    # When it is created, Then it is refused with a suggestion
    with pytest.raises(rfx.SpecError, match=f"did you mean '{meant}'\\?"):
        rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={"x": 1})


def test_a_mistyped_operator_nested_in_data_or_in_the_outputs_is_an_error() -> None:
    spec = {"steps": [{"op": "a", "input": {"cfg": {"limits": {"Max": [{"var": "input.x"}, 1]}}}}],
            "outputs": {"x": {"vr": "steps.a.output.x"}}}
    assert [str(p) for p in rfx.validate(spec)] == [
        "step 'a', field 'input': input.cfg.limits: unknown JSON Logic operator 'Max'; did you mean 'max'? "
        "(to pass such a mapping as data, see Limits in the README)",
        "field 'outputs': outputs.x: unknown JSON Logic operator 'vr'; did you mean 'var'? "
        "(to pass such a mapping as data, see Limits in the README)"]


@pytest.mark.parametrize("condition, message", [
    ({"vr": "x"}, "unknown JSON Logic operator 'vr'; did you mean 'var'?"),
    ({"=>": [{"var": "x"}, 1]}, "unknown JSON Logic operator '=>'; did you mean '==', '>' or '>='?"),
    ({"substr": ["abc", 1]}, "unknown JSON Logic operator 'substr' (json-logic-path does not implement it)"),
    ({"and": [True, {"Or": [1]}]}, "unknown JSON Logic operator 'Or'; did you mean 'or'?"),
])
def test_in_a_condition_any_unknown_operator_is_an_error_with_a_suggestion(condition: Any, message: str) -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": condition, "action": "complete"}]}]}
    assert any(message in p.message for p in rfx.validate(spec)), rfx.validate(spec)


@pytest.mark.parametrize("data", [
    {"id": "input.x"},  # one edit from 'if' and 'in', but a two-letter operator only matches a doubled letter
    {"note": {"var": "input.x"}},  # an expression as the value is a value, not an operator's arguments
    {"logs": [{"var": "input.x"}]},  # a plural of an operator name is a name
    {"vr": 1},  # reads no data: nothing an operator would be given
    {"mix": [1, 2]},
    {"Max": 3},
    {"may": "2026-05-01"},
    {"tax": {"rate": 0.2}},
])
def test_ordinary_short_data_keys_stay_data(data: Any) -> None:
    # Given a literal mapping whose one key looks a little like an operator
    spec = {"steps": [{"op": "a", "input": {"value": data}}]}
    # When it runs, Then the executor receives it as data (expressions inside it resolved)
    job = rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={"x": 7}).advance().jobs[0]
    expected = {k: (7 if v == {"var": "input.x"} else [7] if v == [{"var": "input.x"}] else v) for k, v in data.items()}
    assert job.inputs == {"value": expected}


def test_a_literal_mapping_whose_key_is_an_operator_passes_through_an_input_default_end_to_end() -> None:
    # Given data the spec cannot hold literally: {max: 3} is the max operator, {vr: input.x} a typo
    spec = {"inputs": {"limits": {"type": "object", "default": {"max": 3}},
                       "template": {"type": "object", "default": {"vr": "input.x"}}},
            "steps": [{"op": "render", "input": {"cfg": {"limits": {"var": "input.limits"},
                                                         "template": {"var": "input.template"}},
                                                 "vr": {"var": "input.template.vr"}}}],
            "outputs": {"got": {"var": "steps.render.output.got"}}}
    seen: list[dict[str, Any]] = []

    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        seen.append(inputs)
        return {"got": inputs["cfg"]}

    # When it runs (data read by var is never evaluated; input field names are always names)
    result = rfx.Workflow.from_dict(spec, rfx.Backend(executor=execute), inputs={}).run()
    # Then the executor and the outcome hold the mappings as written
    assert seen == [{"cfg": {"limits": {"max": 3}, "template": {"vr": "input.x"}}, "vr": "input.x"}]
    assert result == rfx.Complete({"got": {"limits": {"max": 3}, "template": {"vr": "input.x"}}})


@pytest.mark.parametrize("value, problem", [
    ({"cfg": {"in": 1}}, "input.v.cfg: 'in' takes 2 arguments, got 1 (to pass such a mapping as data, see Limits"),
    ({"?:": [True, 1]}, "input.v: '?:' takes 3 arguments, got 2"),
    ({"+": [1, {"!": [1, 2]}]}, "input.v.+[1]: '!' takes 1 argument, got 2"),
])
def test_an_operator_given_the_wrong_number_of_arguments_is_refused_before_it_fails_at_run_time(
        value: Any, problem: str) -> None:
    # Given {in: 1} meant as data (json-logic-path would raise TypeError evaluating it)
    messages = [p.message for p in rfx.validate({"steps": [{"op": "a", "input": {"v": value}}]})]
    assert len(messages) == 1 and messages[0].startswith(problem), messages


def test_a_condition_with_a_wrong_argument_count_is_refused() -> None:
    spec = {"steps": [{"op": "a", "branch": [{"condition": {"==": [{"var": "x"}]}, "action": "complete"}]}]}
    assert [p.message for p in rfx.validate(spec)] == ["branch[0].condition: '==' takes 2 arguments, got 1"]
