"""runfox_core.api without any backend: what a start payload may be, and how problems are reported."""

from __future__ import annotations

import pytest

from local.events import load_event
from runfox_core import api
from runfox_core.errors import ConflictError


def test_a_valid_payload_becomes_spec_inputs_and_name() -> None:
    # Given the sample payload with a name
    payload = {**load_event("start"), "name": "order-7:retry.2"}
    # When it is parsed against the deployed tokens
    spec, inputs, name = api.parse_start(payload, {"make_greeting", "shout"})
    # Then the YAML became a mapping and nothing else changed
    assert [step["op"] for step in spec["steps"]] == ["make_greeting", "shout"]
    assert (inputs, name) == ({"name": "world"}, "order-7:retry.2")


@pytest.mark.parametrize("name", ["", "-leading-dash", "tab\there", "line\n", "ünïcode", "a" * 129, "a/b", "a#b"])
def test_a_name_that_could_not_be_a_plain_key_is_refused(name: str) -> None:
    # Given / When / Then
    with pytest.raises(api.RequestError) as raised:
        api.parse_start({**load_event("start"), "name": name})
    assert raised.value.field == "name"


def test_inputs_default_to_an_empty_object_and_the_token_check_is_optional() -> None:
    # Given a payload with no inputs, parsed without a queue map
    # When / Then
    assert api.parse_start({"spec": {"steps": [{"op": "anything"}]}}).inputs == {}


def test_a_spec_with_values_json_cannot_hold_is_refused() -> None:
    # Given YAML whose unquoted date becomes a datetime.date
    payload = {"spec": "version: 2024-01-01\nsteps: [{op: shout}]\n"}
    # When / Then
    with pytest.raises(api.SpecError, match="only JSON values"):
        api.parse_start(payload)


def test_every_unknown_op_is_named_with_its_step() -> None:
    # Given two steps whose tokens are not deployed
    payload = {"spec": {"steps": [{"op": "a"}, {"id": "b", "fn": "c"}, {"op": "shout"}]}}
    # When / Then
    with pytest.raises(api.UnknownOpError) as raised:
        api.parse_start(payload, {"shout"})
    assert [(p.step, p.field) for p in raised.value.problems] == [("a", "op"), ("b", "fn")]


def test_an_advance_payload_needs_exactly_an_execution_key() -> None:
    # Given / When / Then
    assert api.parse_advance('{"execution": "w#e"}') == ("w#e", "advance", None, {})
    for bad in ({}, {"execution": ""}, {"execution": "x" * 600}, {"execution": "w#e", "more": 1}, "[]"):
        with pytest.raises(api.RequestError):
            api.parse_advance(bad)


def test_an_unexpected_error_is_reported_without_its_text() -> None:
    # Given an exception that is not a runfox error (it may hold internals)
    body = api.error_body(KeyError("secret-table-name"))
    # Then the caller sees a generic message; a runfox error keeps its own
    assert body["error"]["type"] == "InternalError" and "secret" not in body["error"]["message"]
    assert api.error_body(ConflictError("busy"))["error"] == {
        "type": "ConflictError", "message": "busy", "step": None, "field": None}


def test_infrastructure_errors_are_not_treated_as_bad_requests() -> None:
    # Then a handler catching REJECTED lets these propagate (so Lambda retries or reports them)
    assert not issubclass(ConflictError, api.REJECTED)
    assert issubclass(api.UnknownOpError, api.REJECTED)


def test_the_router_can_name_the_execution_of_any_message_for_its_logs() -> None:
    # Given a message, garbage, and JSON that names no execution
    # When / Then
    assert api.execution_named('{"kind": "wake", "execution": "w#e"}') == "w#e"
    assert api.execution_named("{not json") is None
    assert api.execution_named('["w#e"]') is None
