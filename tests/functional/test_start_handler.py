"""The start Lambda against moto: good payloads start executions, bad ones answer with the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from functional_kit import call, item_count, take_messages

from local.cloud import LocalCloud
from local.deployment import WORKFLOWS_TABLE, op_queue_name
from local.events import event_names, load_event
from local.lambda_runtime import emitted_metrics
from runfox_core import api
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.payloads import is_ref, resolve

START = config.START_HANDLER

# bad payload (events/bad/<name>.json) -> (error type, field, step)
BAD_PAYLOADS: dict[str, tuple[str, str | None, str | None]] = {
    "bad/not_object": ("RequestError", None, None),
    "bad/missing_spec": ("RequestError", "spec", None),
    "bad/spec_not_mapping": ("RequestError", "spec", None),
    "bad/yaml_error": ("SpecError", "spec", None),
    "bad/yaml_not_mapping": ("SpecError", "spec", None),
    "bad/yaml_bomb": ("SpecError", "spec", None),
    "bad/deep_nesting": ("SpecError", "spec", None),
    "bad/invalid_spec": ("SpecError", "depends_on", "shout"),
    "bad/unknown_op": ("UnknownOpError", "fn", "brew"),
    "bad/unknown_key": ("RequestError", "input", None),
    "bad/inputs_not_object": ("RequestError", "inputs", None),
    "bad/name_not_string": ("RequestError", "name", None),
    "bad/name_bad_chars": ("RequestError", "name", None),
    "bad/name_too_long": ("RequestError", "name", None),
}


def nothing_written(cloud: LocalCloud, before: int) -> bool:
    return item_count(cloud, WORKFLOWS_TABLE) == before and not take_messages(cloud, op_queue_name("shout"))


def test_every_bad_payload_in_events_has_an_expected_error() -> None:
    # Given the bad payloads in events/bad, Then each one is covered by BAD_PAYLOADS
    assert sorted(BAD_PAYLOADS) == event_names("bad")


def test_the_sample_payload_starts_the_greeting_and_dispatches_its_first_step(cloud: LocalCloud) -> None:
    # When the start Lambda gets events/start.json
    response = call(START, load_event("start"))
    # Then it created an execution and sent make_greeting's job to its queue
    assert response["created"] is True
    assert response["status"] == "in_progress"
    assert [job["step"] for job in response["dispatched"]] == ["make_greeting"]
    jobs = take_messages(cloud, op_queue_name("make_greeting"))
    assert [(job["kind"], job["execution"], job["inputs"]) for job in jobs] == [
        ("job", response["execution"], {"name": "world"})]


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_a_bad_payload_is_answered_with_its_problem_and_writes_nothing(cloud: LocalCloud, name: str) -> None:
    # Given a bad payload
    before = item_count(cloud, WORKFLOWS_TABLE)
    # When the start Lambda gets it
    response = call(START, load_event(name))
    # Then it answers with the error type, field and step, and nothing was written or sent
    error = response["error"]
    assert (error["type"], error["field"], error["step"]) == BAD_PAYLOADS[name]
    assert error["message"]
    assert nothing_written(cloud, before)


def test_an_oversized_payload_is_refused_naming_the_limit(cloud: LocalCloud) -> None:
    # Given a payload over 1 MiB of JSON
    payload = load_event("start")
    payload["inputs"] = {"blob": "x" * api.MAX_START_PAYLOAD_BYTES}
    before = item_count(cloud, WORKFLOWS_TABLE)
    # When the start Lambda gets it
    error = call(START, payload)["error"]
    # Then it is refused before parsing, saying what the limit is
    assert error["type"] == "RequestError"
    assert f"limit is {api.MAX_START_PAYLOAD_BYTES:,} bytes" in error["message"]
    assert nothing_written(cloud, before)


def test_inputs_over_the_inline_limit_start_and_are_stored_by_reference_in_the_values_bucket(
        cloud: LocalCloud) -> None:
    # Given inputs of 300 KB: under the request cap, over what one step record may carry
    payload = load_event("start")
    payload["inputs"] = {"name": "x" * 300_000}
    # When the execution is started
    response = call(START, payload)
    # Then it starts, its stored inputs refer to the value in the bucket, and the job carries the reference
    assert response["created"] is True, response
    stored = get_backend().load_definition(response["execution"]).inputs["name"]
    assert is_ref(stored) and stored["bytes"] == 300_002 and resolve(stored) == "x" * 300_000
    (job,) = take_messages(cloud, op_queue_name("make_greeting"))
    assert job["inputs"]["name"] == stored


def test_a_payload_given_as_json_text_is_accepted_and_garbage_text_is_not(cloud: LocalCloud) -> None:
    # Given the sample payload as JSON text, and text that is not JSON
    # When / Then
    assert call(START, json.dumps(load_event("start")))["created"] is True
    assert call(START, "{not json")["error"]["type"] == "RequestError"
    take_messages(cloud, op_queue_name("make_greeting"))


def test_a_repeated_name_returns_the_same_execution_without_dispatching_again(cloud: LocalCloud) -> None:
    # Given an execution started under a name
    payload: dict[str, Any] = {**load_event("start"), "name": "order-1001"}
    first = call(START, payload)
    # When the same request comes again (a client retry)
    second = call(START, payload)
    # Then it is the same execution, not created again, and only one job was sent
    assert (second["execution"], second["created"]) == (first["execution"], False)
    assert second["dispatched"] == []
    assert len(take_messages(cloud, op_queue_name("make_greeting"))) == 1


def test_a_name_reused_with_a_different_spec_or_inputs_is_refused(cloud: LocalCloud) -> None:
    # Given an execution started under a name
    payload: dict[str, Any] = {**load_event("start"), "name": "order-1002"}
    first = call(START, payload)
    take_messages(cloud, op_queue_name("make_greeting"))
    before = item_count(cloud, WORKFLOWS_TABLE)
    # When the name comes again with another spec, or other inputs
    other_spec = call(START, {**load_event("chain"), "name": "order-1002"})
    other_inputs = call(START, {**payload, "inputs": {"name": "moon"}})
    # Then both are refused, naming the execution that holds the name; nothing is written
    for response in (other_spec, other_inputs):
        error = response["error"]
        assert (error["type"], error["field"], error["execution"]) == (
            "ExecutionExistsError", "name", first["execution"])
    assert nothing_written(cloud, before)


def test_starts_and_rejections_are_counted_in_metrics(cloud: LocalCloud) -> None:
    # Given the metrics output so far
    before = len(emitted_metrics(START))
    # When one start succeeds and one is rejected
    call(START, load_event("start"))
    call(START, load_event("bad/missing_spec"))
    take_messages(cloud, op_queue_name("make_greeting"))
    # Then each emitted its count metrics
    assert emitted_metrics(START)[before:] == ["WorkflowsStarted", "StepsDispatched", "StartsRejected"]
