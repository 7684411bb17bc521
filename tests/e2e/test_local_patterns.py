"""Every pattern, end to end on the local emulator, ends as it does in-process.

Delivery modes (``e2e_kit.MODES``): in order; shuffled; every message
delivered twice; both. Run-id fencing must make duplicates harmless, so the
outcome, the error and the accumulated state are the same in every mode.
Each pattern runs in order and in the hardest mode (shuffled, every message
twice), which disorders and duplicates at once; "shuffled" and "twice" on
their own each exercise a part of it, at the cost of two more runs per pattern.
"""

from __future__ import annotations

import json

import pytest
from e2e_kit import MODES, run_in_process, run_local

from local import lambda_runtime
from local.cloud import LocalCloud
from local.deployment import RESULTS_QUEUE
from local.events import load_event

PATTERNS = ["start", "chain", "fanout", "fanin", "diamond", "state", "halt", "retry", "fibonacci", "raises"]


@pytest.mark.parametrize("mode", ["in-order", "shuffled-twice"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_ends_on_the_emulator_as_it_does_in_process(cloud: LocalCloud, pattern: str, mode: str) -> None:
    # Given a pattern's start payload from events/
    payload = load_event(pattern)
    # When it runs through the deployed flow, delivered in this mode, and in-process
    local = run_local(cloud, [payload], **MODES[mode])
    # Then both end the same way: status, outcome or error, and state
    assert local.endings == [run_in_process(payload)]


def test_the_greeting_shouts_and_the_failing_executor_reports_its_error(cloud: LocalCloud) -> None:
    # Given the greeting and the always-raising pattern
    # When both run on the emulator
    greeting, raises = run_local(cloud, [load_event("start"), load_event("raises")]).endings
    # Then the greeting completes with the shout, and the other fails with the executor's exception
    assert (greeting.status, greeting.outcome) == ("complete", {"message": "HELLO, WORLD"})
    assert (raises.status, raises.error) == ("failed", ("explode", "RuntimeError", "boom"))


def test_a_counter_accumulated_in_state_is_exact_when_every_message_comes_twice(cloud: LocalCloud) -> None:
    # Given the state pattern counting to 12 by ones
    payload = load_event("state")
    payload["inputs"] = {"add": 1, "target": 12}
    # When every message is delivered twice, in shuffled order
    local = run_local(cloud, [payload], shuffle=True, duplicate=True, seed=3)
    # Then no pass was counted twice
    (end,) = local.endings
    assert (end.status, end.outcome, end.state) == ("complete", {"final_count": 12}, {"count": 12})


def test_a_retry_with_backoff_waits_for_its_wake_timer(cloud: LocalCloud) -> None:
    # Given flaky failing once, with a one-second backoff before the retry
    payload = load_event("retry_backoff")
    # When it runs on the emulator
    local = run_local(cloud, [payload])
    # Then it recovers, as in-process, after a wake message came through the results queue
    assert local.endings == [run_in_process(payload)]
    wakes = [r for queue, r in local.deliveries if queue == RESULTS_QUEUE and json.loads(r["body"])["kind"] == "wake"]
    assert len(wakes) >= 1
    assert local.stats.seconds >= 1.0


def test_a_job_whose_executor_always_crashes_is_dead_lettered_and_fails_the_step(cloud: LocalCloud) -> None:
    # Given an op whose executor Lambda fails every batch (max_receive_count 2)
    # When it runs on the emulator
    local = run_local(cloud, [load_event("dead_letter")])
    # Then SQS dead-lettered the job, and the router turned that into the step's failed attempt
    (end,) = local.endings
    assert end.status == "failed"
    assert end.error is not None and end.error[:2] == ("crash", "DeadLetterError")
    assert any(queue.endswith("-dlq") for queue, _ in local.deliveries)


@pytest.mark.parametrize("mode", ["in-order", "shuffled-twice"])
def test_many_executions_at_once_each_end_as_they_do_alone(cloud: LocalCloud, mode: str) -> None:
    # Given every pattern, started together
    payloads = [load_event(name) for name in PATTERNS]
    # When they run interleaved on the emulator
    local = run_local(cloud, payloads, timeout=240, **MODES[mode])
    # Then each ends as it does in-process
    assert local.endings == [run_in_process(payload) for payload in payloads]


WIDE_MERGE = {
    "spec": "name: wide-merge\nsteps:\n  - op: spread\n    input: {prefix: k, keys: 250}\n"
            "outputs:\n  last: {var: state.k249}\n",
    "inputs": {},
}


def test_an_output_wider_than_one_transaction_is_journaled_and_merges_every_key(cloud: LocalCloud) -> None:
    # Given a step whose output merges 250 keys into state (a commit of more items than one transaction
    # holds, even with the few that ride in the header)
    # When it runs on the emulator, every message delivered twice and shuffled
    local = run_local(cloud, [WIDE_MERGE], **MODES["shuffled-twice"])
    # Then it ends as in-process, with every key in state
    (end,) = local.endings
    assert end == run_in_process(WIDE_MERGE)
    assert (end.status, end.outcome, len(end.state)) == ("complete", {"last": 249}, 250)
    # And the router went through the journal: its deletes are the one BatchWriteItem the engine makes
    assert ["dynamodb:BatchWriteItem", "table:workflows"] in lambda_runtime.recorded_iam_calls()["result_router"]
