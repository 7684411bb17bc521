"""Crash anywhere in a map whose results records are written ahead of their commits (``dynamodb_store``,
"Results slots ahead"): results of 3 KB of random hex make records of two write units or more, so
each commit that applies results first puts its record by one conditional PutItem. For every AWS
call of a clean run, a run where that call fails (the Lambda dies there: before or after the put
ahead, before or after the commit) ends like the clean run, with every result exact.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from fault_kit import CallTap, Ending, calls_made, crash_each_call, only_ops_of, run_once, tapped_cloud

from runfox_core.payloads import resolve

pytestmark = pytest.mark.usefixtures("no_grace")

ITEMS = [random.Random(i).randbytes(1500).hex() for i in range(4)]
SPEC: dict[str, Any] = {"steps": [
    {"id": "echo", "map": {"items": ITEMS, "fn": "inspect", "input": {"level": {"var": "item"}},
                           "max_concurrency": 2}}],
    "outputs": {"results": {"var": "steps.echo.output.results"}}}
EXECUTORS = only_ops_of(SPEC)


def run(tap: CallTap, name: str) -> Ending:
    """A run, its outcome read through (the results, 12 KB, go to the values bucket by reference)."""
    with tapped_cloud(EXECUTORS, tap) as (cloud, _):
        ending = run_once(cloud, tap, name, spec=SPEC)
        return dataclasses.replace(ending, outcome=resolve(ending.outcome))


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_crash_at_any_aws_call_of_a_map_writing_results_ahead_ends_like_the_clean_run(shard: int) -> None:
    # Given the clean run of a map of 4 items, two jobs at a time, whose results records are put ahead
    clean_tap = CallTap()
    clean = run(clean_tap, "ahead-clean")
    assert clean.status == "complete" and clean.outcome == {"results": [{"level": item} for item in ITEMS]}
    assert clean_tap.calls.count("dynamodb.PutItem") >= 2  # (a commit of results: at least two)
    # When each call k of this shard fails in turn (the Lambda dies there) and the system recovers by itself
    sweep = crash_each_call(run, "ahead-crash", len(clean_tap.calls), lambda ending: ending == clean, shard, SHARDS)
    # Then every run ends exactly like the clean one
    print(f"\ncrash-anywhere in a map writing results ahead, shard {shard + 1} of {SHARDS}: {calls_made(clean_tap)} "
          f"in the clean run; {sweep.survived} crash runs ended exactly like the clean run")
    assert sweep.broken == []
