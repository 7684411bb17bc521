"""Crash anywhere: for every AWS call the handlers make, a run where that call fails ends like the clean run.

Each run is on moto in this process (``fault_kit.tapped_cloud``). The calls
are split over ``SHARDS`` tests (call k goes to shard k mod SHARDS), so
pytest-xdist can run them side by side; each shard makes its own clean run
to compare with. The 300-wide fan-out's crash points are one test each for
the same reason: each of its runs takes about as long as a whole shard (``make test`` runs one of
its four crash points: ``RUNFOX_WIDE_CRASH_POINTS``; ``make reliability`` all four).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from fault_kit import (
    WORKFLOW_CONFIG,
    CallTap,
    Ending,
    calls_made,
    crash_each_call,
    only_ops_of,
    run_once,
    tapped_cloud,
    wide_fan_out,
)

pytestmark = pytest.mark.usefixtures("no_grace")

WIDE = 300  # a fan-out wider than any one DynamoDB transaction, with a join over all of it
WIDE_SPEC = wide_fan_out(WIDE)


def run(tap: CallTap, name: str, executors: Any = WORKFLOW_CONFIG, **kwargs: Any) -> Ending:
    with tapped_cloud(executors, tap) as (cloud, _):
        return run_once(cloud, tap, name, **kwargs)


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_crash_at_any_aws_call_of_any_handler_ends_like_the_clean_run(shard: int) -> None:
    # Given the clean run of a workflow with a fan-out, a join and a loop, and its numbered AWS calls
    clean_tap = CallTap()
    clean = run(clean_tap, "clean")
    assert clean.status == "complete" and clean.outcome == {"sum": 19, "count": 3}
    # When each call k (of this shard) in turn fails (the Lambda "dies" there) and recovery is left to the system
    sweep = crash_each_call(run, "crash", len(clean_tap.calls), lambda ending: ending == clean, shard, SHARDS)
    # Then the run ends with the same outcome, the same run ids (no result applied twice) and exact state
    print(f"\ncrash-anywhere, shard {shard + 1} of {SHARDS}: {calls_made(clean_tap)} in the clean run; "
          f"{sweep.survived} crash runs (calls {shard + 1}, {shard + 1 + sweep.crashes.step}, ... every "
          f"{sweep.crashes.step} apart) "
          f"ended exactly like the clean run")
    assert sweep.broken == []


# How the clean run of the wide fan-out ends: the join's sum, every step run once, and the state every
# output merged into (each worker's output {"incremented": 4}, the join's {"sum": ...}).
WIDE_CLEAN = Ending("complete", {"sum": 4 * WIDE}, {step["id"]: 0 for step in WIDE_SPEC["steps"]},
                    {"incremented": 4, "sum": 4 * WIDE})


# The sampled crash points of the 300-wide run. ``make test`` runs the first ``RUNFOX_WIDE_CRASH_POINTS``
# (1: each run of this width takes half a minute); ``make reliability`` all four. The two first crash a commit
# of the run's spilled schedules, which only a run this wide has; the send of the 300 claimed jobs is crashed at
# this width by tests/aws/test_no_wedge.py as well, under ``make test`` too.
WIDE_CRASH_POINTS = [
    pytest.param(("dynamodb.TransactWriteItems", 3), id="the-seeds-result-commit-spilling-the-ready-set"),
    # (the router applies an execution's results ten to a commit: about 70 transactions in the whole run)
    pytest.param(("dynamodb.TransactWriteItems", 35), id="a-result-commit-half-way-through"),
    pytest.param(("sqs.SendMessageBatch", 2), id="the-send-of-the-claimed-jobs"),
    pytest.param(("dynamodb.UpdateItem", 2), id="the-first-confirmation-that-they-were-sent"),
]
WIDE_CRASHES = int(os.environ.get("RUNFOX_WIDE_CRASH_POINTS", len(WIDE_CRASH_POINTS)))
if not 1 <= WIDE_CRASHES <= len(WIDE_CRASH_POINTS):
    raise ValueError(f"RUNFOX_WIDE_CRASH_POINTS must be 1 to {len(WIDE_CRASH_POINTS)}, got {WIDE_CRASHES}")


@pytest.mark.parametrize("fail", WIDE_CRASH_POINTS[:WIDE_CRASHES])
def test_a_crash_at_a_sample_of_the_calls_of_a_300_wide_fan_out_ends_like_the_clean_run(fail: tuple[str, int]) -> None:
    # Given a 300-wide fan-out and join (a run of this width takes about a minute on the emulator, so a sample
    # of its calls, each in a test of its own), and how its clean run ends: each step run once, the exact sum
    # When this call fails: the send of the 300 claimed jobs (claimed, never sent), the first confirmation
    # that they were sent, a result commit half-way through the run, or the seed's result commit (the third
    # transaction, after create and the seed's claim), which spills the ready set past the header's budget
    tap = CallTap(fail_nth=fail)
    ending = run(tap, "wide-crash", only_ops_of(WIDE_SPEC), spec=WIDE_SPEC, timeout=600.0)
    assert tap.fired is not None, f"{fail[0]} {fail[1]} was never made: {calls_made(tap)}"
    # Then the run ends exactly like the clean one
    print(f"\ncrash-anywhere, {WIDE}-wide fan-out: crashed at {fail[0]} {fail[1]} (call "
          f"{tap.fired_at} of {calls_made(tap)}); "
          f"{'ended' if ending == WIDE_CLEAN else 'did NOT end'} exactly like the clean run")
    assert ending == WIDE_CLEAN
