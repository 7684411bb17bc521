"""The advance Lambda's cancel action against moto: cancelled means nothing more is sent."""

from __future__ import annotations

from functional_kit import call, take_messages

from local.cloud import LocalCloud
from local.deployment import op_queue_name
from local.events import load_event
from runfox_core.aws import config


def test_cancel_through_the_advance_lambda_ends_it_and_later_advances_send_nothing(cloud: LocalCloud) -> None:
    # Given a started execution whose first job is out
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    # When it is cancelled with events/cancel.json's action and reason, then advanced again
    cancelled = call(config.ADVANCE_HANDLER, {**load_event("cancel"), "execution": key})
    again = call(config.ADVANCE_HANDLER, {"execution": key})
    # Then it reads cancelled and no job was sent after the cancel
    assert cancelled == {"execution": key, "status": "cancelled", "dispatched": [], "reason": "stopped by an operator"}
    assert (again["status"], again["dispatched"]) == ("cancelled", [])
    assert take_messages(cloud, op_queue_name("make_greeting")) == []


def test_cancelling_an_ended_or_unknown_execution_is_answered_with_the_problem(cloud: LocalCloud) -> None:
    # Given a cancelled execution and a key that names none
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    call(config.ADVANCE_HANDLER, {"execution": key, "action": "cancel"})
    # When / Then: a cancelled one may be cancelled again; an unknown one is an error
    assert call(config.ADVANCE_HANDLER, {"execution": key, "action": "cancel"})["status"] == "cancelled"
    unknown = call(config.ADVANCE_HANDLER, {"execution": "no#such", "action": "cancel"})["error"]
    assert (unknown["type"], unknown["field"]) == ("ExecutionNotFoundError", "execution")


def test_the_sample_cancel_payload_names_an_unknown_execution(cloud: LocalCloud) -> None:
    # Given events/cancel.json (its key is a placeholder)
    # When / Then
    assert call(config.ADVANCE_HANDLER, load_event("cancel"))["error"]["type"] == "ExecutionNotFoundError"


def test_an_unknown_action_or_a_reason_without_cancel_is_refused(cloud: LocalCloud) -> None:
    for payload in ({"execution": "a#b", "action": "stop"}, {"execution": "a#b", "reason": "x"},
                    {"execution": "a#b", "action": "cancel", "reason": 5}):
        error = call(config.ADVANCE_HANDLER, payload)["error"]
        assert error["type"] == "RequestError" and error["field"] in ("action", "reason")
