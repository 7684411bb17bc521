"""Crash anywhere in start, cancel and redrive: each is retried by its caller and the run ends like the clean one.

The clean run starts the crash workflow, cancels it before any job ran,
redrives it, and lets the event sources run it to its end. Then, for every
AWS call those three operations make (the start, cancel and redrive
invocations of the Lambdas), a run where that call fails: the caller retries
the invocation (start and cancel are idempotent; a retried redrive that
finds the execution running again is done), and the system recovers the
rest (the redrive's safety wake re-drives a claim whose send was lost). It
must end exactly like the clean run (status, outcome, every step's run id,
the state), with exactly one ``cancelled`` and one ``redriven`` event in its
history.
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import INPUTS, SPEC, WORKFLOW_CONFIG, CallTap, InjectedCrash, crash_each_call, tapped_cloud

from local.event_source import EventSourceDriver
from local.lambda_runtime import invoke
from runfox_core import operations
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from tests.aws.no_wedge_kit import Ending

RETRIES = 20  # a caller retrying a failed invocation
pytestmark = pytest.mark.usefixtures("no_grace")


def call(tap: CallTap, handler: str, payload: dict[str, Any], done_when_running: bool = False) -> dict[str, Any]:
    """Invoke ``handler`` as a retrying caller would: again after a crash, until it answers."""
    for _ in range(RETRIES):
        try:
            with tap.handler_span():
                answer = invoke(handler, payload)
        except InjectedCrash:
            continue
        if done_when_running and answer.get("error", {}).get("status") == "in_progress":
            return answer  # a redrive that committed before the crash: the execution runs again
        assert "error" not in answer, answer
        return dict(answer)
    raise AssertionError(f"{handler} never answered")


def run(tap: CallTap, name: str) -> tuple[Ending, list[str], int]:
    with tapped_cloud(WORKFLOW_CONFIG, tap) as (cloud, _):
        key = call(tap, config.START_HANDLER, {"spec": SPEC, "inputs": INPUTS, "name": name})["execution"]
        call(tap, config.ADVANCE_HANDLER, {"action": "cancel", "execution": key, "reason": "maintenance"})
        call(tap, config.ADVANCE_HANDLER, {"action": "redrive", "execution": key}, done_when_running=True)
        operated = len(tap.calls)
        tap.fail_at = tap.fail_at if tap.fail_at is not None and tap.fail_at <= operated else None
        wf = Workflow(key, get_backend())
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)
        driver.run(lambda: wf.status in TERMINAL_WORKFLOW_STATUSES, timeout=60)
        records = get_backend().load_steps(key)
        ending = Ending(str(wf.status), wf.outcome, {sid: r.run_id for sid, r in records.items()}, wf.state)
        kinds = [e["type"] for e in operations.history(get_backend(), key, limit=10_000).events]
        return ending, kinds, operated


def test_a_crash_at_any_call_of_start_cancel_or_redrive_ends_like_the_clean_run() -> None:
    # Given the clean run: started, cancelled, redriven, then run to its end
    clean, kinds, operated = run(CallTap(), "operate-clean")
    assert clean.status == "complete" and kinds.count("cancelled") == 1 and kinds.count("redriven") == 1
    assert clean.run_ids["seed"] == 1  # the cancelled first run was fenced off; the redrive ran it again
    # When each call of the three operations in turn fails
    sweep = crash_each_call(run, "operate-crash", operated, lambda result: result[0] == clean and (
        result[1].count("cancelled"), result[1].count("redriven")) == (1, 1))
    # Then it ends exactly like the clean run, cancelled once and redriven once
    print(f"\ncrash-anywhere in start, cancel and redrive: {operated} AWS calls; "
          f"{sweep.survived} crash runs ended exactly like the clean run")
    assert sweep.broken == []
