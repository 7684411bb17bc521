"""Crash anywhere, where state overflows the header: every AWS call of a run whose commits put several
claims ahead at once and put the state entries leaving the header ahead of their updates
(dynamodb_store "Claims ahead", "Evictions ahead"), made to fail in turn, ends like the clean run.

The seed fans out to two spread steps (one commit, two claims written ahead in one wave), then a
third runs after both; each merges 14 state keys of its own, so the header's room for state (1 KB)
fills and the third's commit evicts committed entries to make room (their items put ahead); the join
reads a key of each step's output, and the outputs read the same keys from state.
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import CallTap, Ending, calls_made, crash_each_call, only_ops_of, run_once, tapped_cloud

KEYS = 14  # state keys per spread step, each of about 40 bytes: three steps' keys are more than the header holds
PREFIX = "{}_key_of_some_length_"
SPEC: dict[str, Any] = {
    "steps": [
        {"id": "seed", "fn": "increment", "input": {"value": {"var": "input.start"}}},
        {"id": "spread_a", "fn": "spread", "depends_on": ["seed"], "input": {"prefix": PREFIX.format("a"), "keys": KEYS}},
        {"id": "spread_b", "fn": "spread", "depends_on": ["seed"], "input": {"prefix": PREFIX.format("b"), "keys": KEYS}},
        {"id": "spread_c", "fn": "spread", "depends_on": ["spread_a", "spread_b"],
         "input": {"prefix": PREFIX.format("c"), "keys": KEYS}},
        {"id": "join", "fn": "add", "depends_on": ["spread_c"],
         "input": {"values": [{"var": f"steps.spread_{w}.output.{PREFIX.format(w)}{KEYS - 1}"} for w in "abc"]}},
    ],
    "outputs": {"sum": {"var": "steps.join.output.sum"},  # and what state holds, evicted or in the header:
                "last": [{"var": f"state.{PREFIX.format(w)}{KEYS - 1}"} for w in "abc"]},
}
EXECUTORS = only_ops_of(SPEC)
pytestmark = pytest.mark.usefixtures("no_grace")


def run(tap: CallTap, name: str) -> Ending:
    with tapped_cloud(EXECUTORS, tap) as (cloud, _):
        return run_once(cloud, tap, name, spec=SPEC)


def test_a_crash_at_any_call_of_a_run_that_writes_claims_and_evictions_ahead_ends_like_the_clean_run() -> None:
    # Given the clean run: every step once, the join's sum of each spread's last key, all 42 keys in state
    clean_tap = CallTap()
    clean = run(clean_tap, "clean")
    assert clean.status == "complete" and clean.outcome == {"sum": 3 * (KEYS - 1), "last": [KEYS - 1] * 3}
    assert clean.state is not None and len([k for k in clean.state if "_key_" in k]) == 3 * KEYS
    # (2 puts create the execution, 2 claims go ahead at the fan-out, 1 more with spread_c and the join each)
    puts = [c for c in clean_tap.calls if c == "dynamodb.PutItem"]
    assert len(puts) > 2 + 2 + 2, f"no evictions written ahead: {calls_made(clean_tap)}"
    # When each call in turn fails (the Lambda "dies" there) and recovery is left to the system
    sweep = crash_each_call(run, "crash", len(clean_tap.calls), lambda ending: ending == clean)
    # Then the run ends with the same outcome, the same run ids and exact state
    print(f"\ncrash-anywhere, claims and evictions ahead: {calls_made(clean_tap)} in the clean run; "
          f"{sweep.survived} crash runs (every {sweep.crashes.step} calls) ended exactly like the clean run")
    assert sweep.broken == []
