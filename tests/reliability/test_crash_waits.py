"""Crash anywhere, with waits: every AWS call of a run with an event kept before its wait begins, an
event during its wait, a callback (a failure, retried; a heartbeat, then output) and a timer, made to
fail in turn, ends like the clean run, the events the waits keep on their records included.

The event and the callback come through the advance Lambda from a caller that retries a failed
invocation with the same request, as a client SDK would: a retried event is a duplicate (same
event_id) that re-drives the execution, a retried callback whose first try committed is refused as
stale after re-driving it. Everything else is the system's own recovery (``fault_kit``).
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import CallTap, InjectedCrash, calls_made, crash_each_call, only_ops_of, start, tapped_cloud

from local.event_source import EventSourceDriver
from local.lambda_runtime import invoke
from runfox_core import operations as ops
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES, StepStatus
from runfox_core.workflow import Workflow
from tests.aws.no_wedge_kit import Ending

SPEC: dict[str, Any] = {
    "steps": [
        {"id": "seed", "fn": "increment", "input": {"value": {"var": "input.start"}}},
        {"id": "approval", "depends_on": ["seed"], "wait": {"event": "approved", "timeout_seconds": 600}},
        {"id": "reviewed", "depends_on": ["approval"], "wait": {"event": "reviewed"}},
        {"id": "signed", "depends_on": ["reviewed"], "wait": {"callback": True, "heartbeat_seconds": 600},
         "max_attempts": 2, "retry": {"backoff_seconds": 0}},
        {"id": "cool_off", "depends_on": ["signed"], "wait": {"seconds": 1}},
        {"id": "last", "fn": "increment", "depends_on": ["cool_off"],
         "input": {"value": {"var": "steps.seed.output.incremented"}}},
    ],
    "outputs": {"value": {"var": "steps.last.output.incremented"}, "by": {"var": "steps.approval.output.by"},
                "signed": {"var": "steps.signed.output.signed"}, "reviewed": {"var": "steps.reviewed.output.ok"}},
}
EXECUTORS = only_ops_of(SPEC)
RETRIES = 20
pytestmark = pytest.mark.usefixtures("no_grace")


def ask(tap: CallTap, payload: dict[str, Any]) -> None:
    """Invoke the advance Lambda with ``payload`` until an invocation returns (a refusal counts)."""
    for _ in range(RETRIES):
        try:
            with tap.handler_span():
                invoke(config.ADVANCE_HANDLER, payload)
            return
        except InjectedCrash:
            continue
    raise AssertionError("the advance Lambda never answered")


def run(tap: CallTap, name: str) -> tuple[Ending, list[tuple[str, str, int]]]:
    with tapped_cloud(EXECUTORS, tap) as (cloud, _):
        key = start(tap, name, SPEC)
        backend = get_backend()
        wf = Workflow(key, backend)
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)

        def until(step: str) -> None:
            driver.run(lambda: wf.status in TERMINAL_WORKFLOW_STATUSES
                       or ops.describe(backend, key).step_statuses[step] == StepStatus.IN_PROGRESS, timeout=60)

        until("approval")
        ask(tap, {"execution": key, "action": "send_event", "event": "reviewed", "payload": {"ok": True},
                  "event_id": "review-1"})  # kept: its wait begins with the approval's commit, and consumes it
        ask(tap, {"execution": key, "action": "send_event", "event": "approved", "payload": {"by": "ann"},
                  "event_id": "approval-1"})
        until("signed")
        first = ops.describe(backend, key).waiting["signed"]["token"]
        ask(tap, {"action": "callback", "token": first, "error": {"type": "Rejected", "message": "not yet"}})
        driver.run(lambda: ops.describe(backend, key).waiting.get("signed", {}).get("run_id") == 1, timeout=60)
        token = ops.describe(backend, key).waiting["signed"]["token"]  # the retry's
        ask(tap, {"action": "callback", "token": token, "heartbeat": True})
        ask(tap, {"action": "callback", "token": token, "output": {"signed": True}})
        driver.run(lambda: wf.status in TERMINAL_WORKFLOW_STATUSES, timeout=60)
        records = backend.load_steps(key)
        # the waits' own events, kept on their records (the first attempt's moved by the retry), as history reads them
        kept = [(e["type"], e["step"], e["run_id"]) for e in ops.history(backend, key).events
                if e["type"] in ("waiting", "step_completed")]
        return Ending(str(wf.status), wf.outcome, {sid: r.run_id for sid, r in records.items()}, wf.state), kept


def test_a_crash_at_any_aws_call_of_a_run_with_waits_ends_like_the_clean_run() -> None:
    clean_tap = CallTap()
    clean = run(clean_tap, "waits-clean")
    assert clean[0].status == "complete" and clean[0].outcome == {"value": 4, "by": "ann", "signed": True,
                                                                      "reviewed": True}
    assert ("waiting", "signed", 0) in clean[1] and ("waiting", "signed", 1) in clean[1]
    sweep = crash_each_call(run, "waits-crash", len(clean_tap.calls), lambda ending: ending == clean)
    print(f"\ncrash-anywhere with waits: {calls_made(clean_tap)} in the clean run; "
          f"{sweep.survived} crash runs ended exactly like the clean run")
    assert sweep.broken == []
