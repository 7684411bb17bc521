"""The advance Lambda against moto: idempotent re-drive, and problems answered as data."""

from __future__ import annotations

from functional_kit import call, take_messages

from local.cloud import LocalCloud
from local.deployment import op_queue_name
from local.events import load_event
from runfox_core.aws import config


def test_advancing_again_and_again_dispatches_nothing_twice(cloud: LocalCloud) -> None:
    # Given a started execution whose first job is out
    started = call(config.START_HANDLER, load_event("start"))
    # When advance runs twice more
    responses = [call(config.ADVANCE_HANDLER, {"execution": started["execution"]}) for _ in range(2)]
    # Then nothing new is dispatched and exactly one job waits in the queue
    assert [(r["status"], r["dispatched"]) for r in responses] == [("in_progress", [])] * 2
    assert len(take_messages(cloud, op_queue_name("make_greeting"))) == 1


def test_the_sample_advance_payload_names_an_unknown_execution(cloud: LocalCloud) -> None:
    # Given events/advance.json (its key is a placeholder)
    # When / Then
    error = call(config.ADVANCE_HANDLER, load_event("advance"))["error"]
    assert error["type"] == "ExecutionNotFoundError"


def test_a_payload_without_an_execution_key_is_answered_with_the_problem(cloud: LocalCloud) -> None:
    # Given payloads with no key, a wrong key type and an unknown field
    for payload in ({}, {"execution": 7}, {"execution": "x#y", "extra": 1}, ["x#y"]):
        # When / Then
        assert call(config.ADVANCE_HANDLER, payload)["error"]["type"] == "RequestError"
