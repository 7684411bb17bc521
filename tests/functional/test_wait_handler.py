"""Wait steps through the Lambdas against moto: send_event and callback actions of the advance Lambda."""

from __future__ import annotations

from functional_kit import call, take_messages

from local.cloud import LocalCloud
from local.deployment import op_queue_name
from local.events import load_event
from runfox_core.aws import config

SPEC = """
steps:
  - id: approval
    wait: {event: approved, match: {"==": [{"var": "event.doc_id"}, {"var": "input.doc_id"}]}}
  - id: signed
    depends_on: [approval]
    wait: {callback: true, heartbeat_seconds: 3600}
  - op: make_greeting
    depends_on: [signed]
    input:
      name: {"var": "steps.approval.output.by"}
"""


def start() -> str:
    started = call(config.START_HANDLER, {"spec": SPEC, "inputs": {"doc_id": "d-42"}})
    assert started["status"] == "in_progress" and started["dispatched"] == []
    return str(started["execution"])


def test_an_event_then_a_callback_through_the_advance_lambda_send_the_next_job(cloud: LocalCloud) -> None:
    # Given an execution waiting for the sample event (events/send_event.json)
    key = start()
    # When the event is sent twice, then the callback the next wait hands out is completed
    first = call(config.ADVANCE_HANDLER, {**load_event("send_event"), "execution": key})
    again = call(config.ADVANCE_HANDLER, {**load_event("send_event"), "execution": key})
    waiting = call(config.ADVANCE_HANDLER, {"execution": key})
    token = _token(cloud, key)
    beat = call(config.ADVANCE_HANDLER, {"action": "callback", "token": token, "heartbeat": True})
    done = call(config.ADVANCE_HANDLER, {**load_event("callback"), "token": token})
    # Then the event was delivered once, and the callback sent make_greeting its job
    assert first["event"] == {"event_id": "approval-d-42", "event": "approved", "disposition": "delivered",
                              "step": "approval", "run_id": 0, "duplicate": False}
    assert again["event"]["duplicate"] is True and waiting["dispatched"] == [] and beat["dispatched"] == []
    assert [d["step"] for d in done["dispatched"]] == ["make_greeting"]
    jobs = take_messages(cloud, op_queue_name("make_greeting"))
    assert [job["inputs"] for job in jobs] == [{"name": "ann@example.com"}]


def test_events_nobody_waits_for_and_bad_tokens_are_answered_with_the_problem(cloud: LocalCloud) -> None:
    key = start()
    cases = [({**load_event("send_event"), "execution": key, "event": "rejected"}, "EventRefusedError", "name"),
             ({**load_event("send_event"), "execution": key, "payload": {"doc_id": "other"}}, "EventRefusedError",
              "payload"),
             ({**load_event("send_event"), "execution": key, "event_id": ""}, "EventRefusedError", "event_id"),
             ({**load_event("send_event"), "execution": key, "token": "x"}, "RequestError", "token"),
             (load_event("callback"), "EventRefusedError", "token"),  # the sample's token names no execution
             ({"action": "callback", "token": "%%%"}, "EventRefusedError", "token")]
    for payload, kind, field in cases:
        error = call(config.ADVANCE_HANDLER, payload)["error"]
        assert (error["type"], error["field"]) == (kind, field), payload


def test_the_sample_send_event_payload_names_an_unknown_execution(cloud: LocalCloud) -> None:
    assert call(config.ADVANCE_HANDLER, load_event("send_event"))["error"]["type"] == "ExecutionNotFoundError"


def _token(cloud: LocalCloud, key: str) -> str:
    from runfox_core import operations
    from runfox_core.aws.factory import get_backend

    return str(operations.describe(get_backend(), key).waiting["signed"]["token"])
