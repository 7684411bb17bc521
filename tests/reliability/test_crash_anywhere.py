"""Crash anywhere: for every AWS call the handlers make, a run where that call fails ends like the clean run.

Each run is on moto in this process (``LocalCloud(in_process=True)``): one
thread drives the handlers, so the server's HTTP hop and second process add
nothing but time. The calls are split over ``SHARDS`` tests (call k goes to
shard k mod SHARDS), so pytest-xdist can run them side by side; each shard
makes its own clean run to compare with.
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import (
    WORKFLOW_CONFIG,
    CallTap,
    Ending,
    crash_points,
    nth,
    only_ops_of,
    operations,
    run_once,
    tapped,
    wide_fan_out,
)

from local.cloud import LocalCloud
from runfox_core.aws import config


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator redelivers a failed record on the next round (visibility 0), so a claim
    # whose send was lost may be re-emitted at once instead of after the deployed 60 s.
    monkeypatch.setenv(config.ENV_UNSENT_GRACE_SECONDS, "0")


WIDE = 300  # a fan-out wider than any one DynamoDB transaction, with a join over all of it
WIDE_SPEC = wide_fan_out(WIDE)


def run(tap: CallTap, name: str, executors: Any = WORKFLOW_CONFIG, **kwargs: Any) -> Ending:
    # a MonkeyPatch per run: the tap's wrappers come off again instead of stacking up run after run
    with (pytest.MonkeyPatch.context() as monkeypatch,
          LocalCloud(executors, quiet=True, in_process=True) as cloud, tapped(tap, monkeypatch)):
        return run_once(cloud, tap, name, **kwargs)


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_crash_at_any_aws_call_of_any_handler_ends_like_the_clean_run(shard: int) -> None:
    # Given the clean run of a workflow with a fan-out, a join and a loop, and its numbered AWS calls
    clean_tap = CallTap()
    clean = run(clean_tap, "clean")
    assert clean.status == "complete" and clean.outcome == {"sum": 19, "count": 3}
    total = len(clean_tap.calls)
    survived, broken = 0, []
    # When each call k (of this shard) in turn fails (the Lambda "dies" there) and recovery is left to the system
    crashes = crash_points(total, shard, SHARDS)
    for k in crashes:
        tap = CallTap(fail_at=k)
        ending = run(tap, f"crash-{k}")
        assert tap.fired is not None, f"call {k} was never made: the injection did not happen"
        # Then the run ends with the same outcome, the same run ids (no result applied twice) and exact state
        if ending == clean:
            survived += 1
        else:
            broken.append((k, clean_tap.calls[k - 1], ending))
    print(f"\ncrash-anywhere, shard {shard + 1} of {SHARDS}: {total} AWS calls in the clean run "
          f"({', '.join(f'{op} {n}' for op, n in operations(clean_tap).most_common())}); "
          f"{survived}/{len(crashes)} crash runs (every {crashes.step}th call from call {shard + 1}) "
          f"ended exactly like the clean run")
    assert broken == []


def test_a_crash_at_a_sample_of_the_calls_of_a_300_wide_fan_out_ends_like_the_clean_run() -> None:
    # Given the clean run of a 300-wide fan-out and join, and its numbered AWS calls
    spec, executors = WIDE_SPEC, only_ops_of(WIDE_SPEC)
    clean_tap = CallTap()
    clean = run(clean_tap, "wide-clean", executors, spec=spec, timeout=600.0)
    assert clean.status == "complete" and clean.outcome == {"sum": 4 * WIDE}
    # When, in turn, these calls fail (a run of this width takes about a minute on the emulator, so a
    # sample): the send of the 300 claimed jobs (claimed, never sent), the first confirmation that
    # they were sent, a result commit half-way through the run, and the seed's result commit (the third
    # transaction, after create and the seed's claim), which spills the ready set past the header's budget
    calls = clean_tap.calls
    transactions = [i + 1 for i, op in enumerate(calls) if op == "dynamodb.TransactWriteItems"]
    points = [nth(calls, "sqs.SendMessageBatch", 2), nth(calls, "dynamodb.UpdateItem", 2),
              transactions[len(transactions) // 2], transactions[2]]
    broken = []
    for k in points:
        tap = CallTap(fail_at=k)
        ending = run(tap, f"wide-crash-{k}", executors, spec=spec, timeout=600.0)
        assert tap.fired is not None, f"call {k} was never made"
        if ending != clean:
            broken.append((k, clean_tap.calls[k - 1], ending.status))
    # Then every run ends exactly like the clean one
    print(f"\ncrash-anywhere, {WIDE}-wide fan-out: {len(clean_tap.calls)} AWS calls in the clean run "
          f"({', '.join(f'{op} {n}' for op, n in operations(clean_tap).most_common())}); crashed at "
          f"{len(points)} of them; {len(points) - len(broken)}/{len(points)} ended exactly like the clean run")
    assert broken == []
