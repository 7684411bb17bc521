"""Wait steps end to end on the local emulator: events through the advance Lambda, timers through the
results queue, in every delivery mode (duplicated and shuffled messages change nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_kit import MODES

from local.cloud import LocalCloud
from local.event_source import EventSourceDriver
from local.lambda_runtime import invoke
from runfox_core import operations
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES, StepStatus

SPEC = """
inputs:
  name: {type: string}
steps:
  - op: make_greeting
    input: {name: {var: input.name}}
  - id: approval
    depends_on: [make_greeting]
    wait: {event: approved, match: {"==": [{"var": "event.name"}, {"var": "input.name"}]}, timeout_seconds: 600}
  - id: cool_off
    depends_on: [approval]
    wait: {seconds: 1}
  - op: shout
    depends_on: [cool_off]
    input: {text: {var: steps.make_greeting.output.text}}
outputs:
  message: {var: steps.shout.output.text}
  by: {var: steps.approval.output.by}
"""


def drive(cloud: LocalCloud, until: Any, mode: dict[str, Any]) -> None:
    driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0, **mode)
    driver.run(until, timeout=60)


def send(key: str, event_id: str) -> dict[str, Any]:
    return invoke(config.ADVANCE_HANDLER, {"execution": key, "action": "send_event", "event": "approved",
                                           "payload": {"name": "ada", "by": "ann"}, "event_id": event_id})


@pytest.mark.parametrize("mode", ["in-order", "shuffled-twice"])
@pytest.mark.parametrize("early", [False, True], ids=["event-while-waiting", "event-before-the-wait"])
def test_an_event_then_a_timer_carry_the_execution_to_its_end(cloud: LocalCloud, mode: str, early: bool) -> None:
    # Given an execution started through the start Lambda
    key = invoke(config.START_HANDLER, {"spec": SPEC, "inputs": {"name": "ada"}})["execution"]
    backend = get_backend()

    def steps() -> dict[str, StepStatus]:
        return operations.describe(backend, key).step_statuses

    # When its event is sent (twice) before its wait begins, or once it waits
    if early:
        assert send(key, "e1")["event"]["disposition"] == "kept"
    else:
        drive(cloud, lambda: steps()["approval"] == StepStatus.IN_PROGRESS, MODES[mode])
        assert send(key, "e1")["event"]["disposition"] == "delivered"
    assert send(key, "e1")["event"]["duplicate"] is True
    drive(cloud, lambda: backend.load_header(key).status in TERMINAL_WORKFLOW_STATUSES,
          MODES[mode])
    # Then the one-second wait's wake came through the results queue and the execution completed
    ended = operations.describe(backend, key)
    assert (str(ended.status), ended.outcome) == ("complete", {"message": "HELLO, ADA", "by": "ann"})
