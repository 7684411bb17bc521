"""A workflow's inputs are checked when it starts: a path that reads nothing is an error, not a null."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import api
from tests.unit.conftest import BackendFactory

ONLY_JSON = ("specs and inputs hold only JSON values (strings, numbers, booleans, null, lists, mappings): "
             "in YAML, quote it to pass a string")
FETCH = """
steps:
  - op: fetch
    input:
      url: {"var": "input.ulr"}
outputs:
  doc: {"var": "steps.fetch.output.text"}
"""


def recording(backend: rfx.Backend) -> list[str]:
    """The keys ``backend.store.create`` is called with: proof that a refused start wrote nothing."""
    created: list[str] = []
    create = backend.store.create

    def record(definition: Any, header: Any) -> None:
        created.append(definition.key)
        create(definition, header)

    backend.store.create = record  # type: ignore[method-assign]
    return created


def problems_of(spec: Any, inputs: Any) -> list[str]:
    with pytest.raises(rfx.SpecError) as err:
        rfx.Workflow.from_dict(spec, rfx.Backend(), inputs=inputs)
    return [str(p) for p in err.value.problems]


# ------------------------------------------------------------- missing paths


def test_a_misspelled_input_path_is_refused_at_creation_naming_the_step_field_and_the_inputs_given(
        make_backend: BackendFactory) -> None:
    # Given the issue's typo: the spec reads input.ulr, the caller gives url
    backend = make_backend()
    created = recording(backend)
    # When the workflow is created
    with pytest.raises(rfx.SpecError) as err:
        rfx.Workflow.from_yaml(FETCH, backend, inputs={"url": "https://example.com"})
    # Then one error names the step, the field, the path and the inputs that do exist; nothing is written
    assert [str(p) for p in err.value.problems] == [
        "step 'fetch', field 'input': input.url reads input.ulr: no input 'ulr' (inputs: url)"]
    assert created == []


def test_every_missing_input_is_listed_in_one_error_with_every_reader() -> None:
    # Given two missing inputs read by two steps, a branch condition and the outputs
    spec = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}, "y": {"var": "input.y"}}},
                      {"op": "b", "input": {"x": {"var": "input.x"}},
                       "branch": [{"condition": {">": [{"var": "input.limit"}, 1]}, "action": "complete"}]}],
            "outputs": {"y": {"var": "input.y"}}}
    # When it is created with no inputs, Then one SpecError lists each reader
    assert problems_of(spec, None) == [
        "step 'a', field 'input': input.x reads input.x: no input 'x' (no inputs were given)",
        "step 'a', field 'input': input.y reads input.y: no input 'y' (no inputs were given)",
        "step 'b', field 'input': input.x reads input.x: no input 'x' (no inputs were given)",
        "step 'b', field 'branch': branch[0].condition reads input.limit: no input 'limit' (no inputs were given)",
        "field 'outputs': outputs.y reads input.y: no input 'y' (no inputs were given)",
    ]


@pytest.mark.parametrize("inputs, reason", [
    ({"doc": {"title": "t"}}, "no key 'url' in input.doc (keys: title)"),
    ({"doc": {}}, "no key 'url' in input.doc (it is empty)"),
    ({"doc": "https://example.com"}, "input.doc is a string, not an object"),
    ({"doc": None}, "input.doc is null, not an object"),
])
def test_a_nested_path_is_checked_to_its_last_key(inputs: dict[str, Any], reason: str) -> None:
    spec = {"steps": [{"op": "fetch", "input": {"url": {"var": "input.doc.url"}}}]}
    assert problems_of(spec, inputs) == [f"step 'fetch', field 'input': input.url reads input.doc.url: {reason}"]


def test_list_indices_in_input_paths_are_checked_like_var_reads_them() -> None:
    spec = {"steps": [{"op": "a", "input": {"first": {"var": "input.xs.0"}, "last": {"var": "input.xs.-1"}}}]}
    rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={"xs": [1, 2]})
    assert problems_of(spec, {"xs": []}) == [
        "step 'a', field 'input': input.first reads input.xs.0: input.xs has no index 0 (length 0)",
        "step 'a', field 'input': input.last reads input.xs.-1: input.xs has no index -1 (length 0)"]


@pytest.mark.parametrize("optional", [
    {"var": ["input.x", 3]},  # var's own default
    {"var": ["input.x", None]},  # an explicit null default is a default too
    {"missing": ["input.x"]},  # asks whether it is there
    {"missing_some": [1, ["input.x", "input.y"]]},
    {"if": [{"var": "input.x"}, {"var": "input.x"}, "none given"]},  # inside if: the author handles absence
    {"?:": [{"var": "input.x"}, {"var": "input.x"}, 0]},
    {"if": [{"missing": "input.x"}, "none given", {"cat": ["x=", {"var": "input.x"}]}]},
])
def test_reads_that_say_the_input_is_optional_are_allowed_without_it(optional: Any) -> None:
    # Given a spec that reads input.x in a way that handles its absence
    spec = {"steps": [{"op": "a", "input": {"v": optional}}]}
    # When it is created without x, Then it starts and the read resolves
    wf = rfx.Workflow.from_dict(spec, rfx.Backend(), inputs={})
    assert isinstance(wf.advance(), rfx.Dispatch)


@pytest.mark.parametrize("required", [
    {"or": [{"var": "input.x"}, 3]},  # or is not a default: x=0 would give 3; say {"var": ["input.x", 3]}
    {"var": ["input.x"]},
    {"+": [1, {"var": ["input.y", {"var": "input.x"}]}]},  # a default expression is read whenever var is
    {"map": [{"var": "input.x"}, {"var": ""}]},  # the list of map is read from the context
])
def test_reads_outside_those_forms_are_required(required: Any) -> None:
    spec = {"steps": [{"op": "a", "input": {"v": required}}]}
    assert problems_of(spec, {}) == ["step 'a', field 'input': input.v reads input.x: no input 'x' (no inputs were given)"]


def test_validate_without_inputs_checks_the_spec_alone_and_with_inputs_checks_them_too() -> None:
    spec = {"steps": [{"op": "fetch", "input": {"url": {"var": "input.url"}}}]}
    assert rfx.validate(spec) == []
    assert [p.message for p in rfx.validate(spec, {})] == ["input.url reads input.url: no input 'url' (no inputs were given)"]


def test_the_start_payload_is_refused_with_an_error_body_listing_the_missing_inputs() -> None:
    # Given the start Lambda's payload with the typo'd spec
    payload = {"spec": FETCH, "inputs": {"url": "https://example.com"}}
    # When it is parsed, Then the error body names the step and field of each reader
    with pytest.raises(api.REJECTED) as err:
        api.parse_start(payload)
    body = api.error_body(err.value)["error"]
    assert (body["type"], body["step"], body["field"]) == ("SpecError", "fetch", "input")
    assert body["problems"] == [{"step": "fetch", "field": "input",
                                 "message": "input.url reads input.ulr: no input 'ulr' (inputs: url)"}]


# ------------------------------------------------------------- inputs block

DECLARED = """
inputs:
  url: {type: string, description: the document to fetch}
  retries: {type: integer, default: 2}
  tags: {type: array, default: []}
steps:
  - op: fetch
    input:
      url: {"var": "input.url"}
      retries: {"var": "input.retries"}
      tags: {"var": "input.tags"}
"""


def echo(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"got": inputs}


def test_declared_defaults_are_stored_with_the_inputs_and_read_by_steps(make_backend: BackendFactory) -> None:
    # Given a spec that declares its inputs, two with defaults
    backend = make_backend(executor=echo)
    # When it starts with only the required one
    wf = rfx.Workflow.from_yaml(DECLARED + "outputs: {got: {var: steps.fetch.output.got}}", backend,
                                inputs={"url": "https://example.com"})
    # Then the defaults are stored with the inputs and reach the step
    assert backend.load_definition(wf.id).inputs == {"url": "https://example.com", "retries": 2, "tags": []}
    assert wf.run() == rfx.Complete({"got": {"url": "https://example.com", "retries": 2, "tags": []}})


@pytest.mark.parametrize("inputs, problem", [
    ({}, "input 'url' is required (it has no default)"),
    ({"url": 42}, "input 'url' must be a string, got an integer"),
    ({"url": "u", "retries": "2"}, "input 'retries' must be an integer, got a string"),
    ({"url": "u", "retries": 2.5}, "input 'retries' must be an integer, got a number"),
    ({"url": "u", "tags": None}, "input 'tags' must be an array, got null"),
    ({"url": "u", "retires": 3}, "unknown input 'retires' (declared: retries, tags, url)"),
])
def test_inputs_that_break_the_declared_block_are_refused_naming_input_expected_and_given_type(
        inputs: dict[str, Any], problem: str) -> None:
    with pytest.raises(rfx.SpecError) as err:
        rfx.Workflow.from_yaml(DECLARED, rfx.Backend(), inputs=inputs)
    assert [str(p) for p in err.value.problems] == [f"field 'inputs': {problem}"]


def test_a_number_input_accepts_integers() -> None:
    spec = {"inputs": {"t": {"type": "number"}}, "steps": [{"op": "a", "input": {"t": {"var": "input.t"}}}]}
    assert rfx.validate(spec, {"t": 1}) == rfx.validate(spec, {"t": 0.5}) == []


@pytest.mark.parametrize("block, problem", [
    ({"url": {"typ": "string"}}, "input 'url': unknown key 'typ' (allowed: default, description, type)"),
    ({"url": {"type": "str"}}, "input 'url': type must be one of array, boolean, integer, null, number, object, "
                               "string; got 'str'"),
    ({"n": {"type": "integer", "default": "3"}}, "input 'n': default '3' is a string, not an integer"),
    ({"url": "string"}, "input 'url': must be a mapping with type, default and description (each optional; {} "
                        "for none), got string"),
    ({"url": {"description": 3}}, "input 'url': description must be a string"),
    ({"a b": {}}, "input 'a b': names are 1-64 letters, digits, '_' or '-'"),
    (["url"], "inputs must be a mapping of input name to {type, default, description}"),
])
def test_a_malformed_inputs_block_is_a_spec_error(block: Any, problem: str) -> None:
    spec = {"inputs": block, "steps": [{"op": "a"}]}
    assert [str(p) for p in rfx.validate(spec)] == [f"field 'inputs': {problem}"]


def test_with_an_inputs_block_a_read_of_an_undeclared_input_is_caught_without_any_inputs() -> None:
    # Given a declared url and a step reading input.ulr (optionally, even)
    spec = {"inputs": {"url": {"type": "string"}},
            "steps": [{"op": "a", "input": {"u": {"var": ["input.ulr", "x"]}}}]}
    # When the spec alone is validated, Then the typo is already an error
    assert [str(p) for p in rfx.validate(spec)] == [
        "step 'a', field 'input': input.u reads input.ulr, which the inputs block does not declare (declared: url)"]


def test_a_retried_named_start_with_defaults_is_the_same_execution() -> None:
    # Given a named start of a spec with declared defaults
    backend = rfx.Backend()
    request = api.parse_start({"spec": DECLARED, "inputs": {"url": "u"}, "name": "doc-1"})
    assert request.inputs == {"url": "u", "retries": 2, "tags": []}
    first = api.start(backend, request)
    # When the same request comes again, Then it finds the same execution instead of refusing the name
    again = api.start(backend, api.parse_start({"spec": DECLARED, "inputs": {"url": "u"}, "name": "doc-1"}))
    assert (first.created, again.created, again.execution) == (True, False, first.execution)


def test_inputs_must_be_json_values_naming_the_path(make_backend: BackendFactory) -> None:
    # Given inputs holding a date and a set (not JSON: no store could keep them as given)
    backend = make_backend()
    created = recording(backend)
    # When the workflow is created, Then each is named by its path and nothing is written
    with pytest.raises(rfx.SpecError) as err:
        rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend,
                               inputs={"when": {"at": datetime.date(2020, 1, 1)}, "tags": {1}})
    assert [str(p) for p in err.value.problems] == [
        f"field 'inputs': inputs.when.at: date '2020-01-01' is not a JSON value; {ONLY_JSON}",
        f"field 'inputs': inputs.tags: set '{{1}}' is not a JSON value; {ONLY_JSON}"]
    assert created == []


def test_creation_logs_no_warning_for_a_clean_spec(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="runfox_core"):
        rfx.Workflow.from_yaml(DECLARED, rfx.Backend(), inputs={"url": "u"})
    assert caplog.records == []
