"""The advance Lambda's operations besides advance and cancel (history, list, redrive, rerun), against moto."""

from __future__ import annotations

from functional_kit import call, take_messages

from local.cloud import LocalCloud
from local.deployment import op_queue_name
from local.events import load_event
from runfox_core.aws import config


def cancelled_greeting(cloud: LocalCloud) -> str:
    key = call(config.START_HANDLER, load_event("start"))["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    call(config.ADVANCE_HANDLER, {"execution": key, "action": "cancel", "reason": "test"})
    return key


def test_history_through_the_lambda_pages_the_events_of_an_execution(cloud: LocalCloud) -> None:
    # Given a started then cancelled execution
    key = cancelled_greeting(cloud)
    # When its history is asked for with events/history.json, one event a page
    first = call(config.ADVANCE_HANDLER, {**load_event("history"), "execution": key, "limit": 1})
    rest = call(config.ADVANCE_HANDLER, {"action": "history", "execution": key, "after": first["next_after"]})
    # Then the pages hold every event in order
    kinds = [e["type"] for e in first["events"] + rest["events"]]
    assert kinds == ["started", "dispatched", "cancelled"] and rest["next_after"] is None


def test_list_through_the_lambda_finds_it_by_status(cloud: LocalCloud) -> None:
    key = cancelled_greeting(cloud)
    found = call(config.ADVANCE_HANDLER, {"action": "list", "status": "cancelled", "limit": 1000})
    assert key in [e["execution"] for e in found["executions"]]
    assert all(e["status"] == "cancelled" for e in found["executions"])
    assert call(config.ADVANCE_HANDLER, load_event("list"))["executions"] == []  # no failed one yet


def test_redrive_through_the_lambda_dispatches_the_cancelled_step_again_at_a_new_run(cloud: LocalCloud) -> None:
    # Given a cancelled execution whose first job was out
    key = cancelled_greeting(cloud)
    # When it is redriven with events/redrive.json
    redriven = call(config.ADVANCE_HANDLER, {**load_event("redrive"), "execution": key})
    # Then its first step is dispatched again, at run 1
    assert redriven["status"] == "in_progress"
    assert redriven["dispatched"] == [{"step": "make_greeting", "token": "make_greeting", "run_id": 1}]
    [message] = take_messages(cloud, op_queue_name("make_greeting"))
    assert message["run_id"] == 1


def test_rerun_as_a_new_named_execution_and_bad_requests_through_the_lambda(cloud: LocalCloud) -> None:
    key = cancelled_greeting(cloud)
    copy = call(config.ADVANCE_HANDLER, {**load_event("rerun"), "execution": key})
    assert copy["execution"] != key and copy["dispatched"][0]["step"] == "make_greeting"
    take_messages(cloud, op_queue_name("make_greeting"))
    # a second redrive of a running execution, an unknown step, a bad key: each an error, nothing changed
    running = call(config.ADVANCE_HANDLER, {"action": "redrive", "execution": copy["execution"]})["error"]
    assert (running["type"], running["status"]) == ("ExecutionStatusError", "in_progress")
    unknown = call(config.ADVANCE_HANDLER, {"action": "rerun", "execution": key, "step": "nope"})["error"]
    assert "no step 'nope'" in unknown["message"]
    for bad, field in (({"action": "list", "limit": "ten"}, "limit"), ({"action": "rerun", "execution": key}, "step"),
                       ({"action": "history", "execution": key, "reason": "x"}, "reason")):
        error = call(config.ADVANCE_HANDLER, bad)["error"]
        assert (error["type"], error["field"]) == ("RequestError", field)
    bad_status = call(config.ADVANCE_HANDLER, {"action": "list", "status": "sleeping"})["error"]
    assert "status 'sleeping' is not one of" in bad_status["message"]
    assert take_messages(cloud, op_queue_name("make_greeting")) == []
