"""Crash anywhere in a map step: for every AWS call of a small map run, a run where that call fails
ends like the clean run (same outcome, same run ids, exact state), so the map's own writes (item
chunks, the window, job records) and its sends survive a Lambda dying at any point.
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_kit import CallTap, Ending, calls_made, crash_each_call, only_ops_of, run_once, tapped_cloud

pytestmark = pytest.mark.usefixtures("no_grace")

SPEC: dict[str, Any] = {"steps": [
    {"id": "seed", "fn": "increment", "input": {"value": {"var": "input.start"}}},
    {"id": "squares", "depends_on": ["seed"], "max_attempts": 2, "retry": {"backoff_seconds": 0},
     "map": {"items": {"merge": [[1, 2, 4], {"var": "steps.seed.output.incremented"}, [5]]}, "fn": "square",
             "input": {"value": {"var": "item"}}, "batch": 2, "max_concurrency": 2}},
    {"id": "total", "fn": "add", "depends_on": ["squares"],
     "input": {"values": {"map": [{"var": "steps.squares.output.results"}, {"var": "squared"}]}}}],
    "outputs": {"total": {"var": "steps.total.output.sum"}, "squares": {"var": "steps.squares.output.succeeded"}}}
EXECUTORS = only_ops_of(SPEC)


def run(tap: CallTap, name: str) -> Ending:
    with tapped_cloud(EXECUTORS, tap) as (cloud, _):
        return run_once(cloud, tap, name, spec=SPEC)


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_crash_at_any_aws_call_of_a_map_run_ends_like_the_clean_run(shard: int) -> None:
    # Given the clean run of a map of 5 items in batches of 2, two jobs at a time, between two steps
    clean_tap = CallTap()
    clean = run(clean_tap, "map-clean")
    assert clean.status == "complete" and clean.outcome == {"total": 1 + 4 + 16 + 9 + 25, "squares": 5}
    # When each call k of this shard fails in turn (the Lambda dies there) and the system recovers by itself
    sweep = crash_each_call(run, "map-crash", len(clean_tap.calls), lambda ending: ending == clean, shard, SHARDS)
    # Then every run ends exactly like the clean one
    print(f"\ncrash-anywhere in a map, shard {shard + 1} of {SHARDS}: {calls_made(clean_tap)} in the clean run; "
          f"{sweep.survived} crash runs ended exactly like the clean run")
    assert sweep.broken == []


FROM_OBJECT: dict[str, Any] = {**SPEC, "steps": [
    SPEC["steps"][0],
    {**SPEC["steps"][1], "map": {**{k: v for k, v in SPEC["steps"][1]["map"].items() if k != "items"},
                                 "items_from": {"s3": {"bucket": "team-data", "key": "exports/items.jsonl",
                                                       "format": "jsonl"}}}},
    SPEC["steps"][2]]}


def run_from_object(tap: CallTap, name: str) -> Ending:
    with tapped_cloud(only_ops_of(FROM_OBJECT), tap) as (cloud, _):
        s3 = cloud.client("s3")  # the team's export, written outside any handler (so never made to fail)
        s3.create_bucket(Bucket="team-data")
        s3.put_object(Bucket="team-data", Key="exports/items.jsonl", Body=b"1\n2\n4\n3\n5\n")
        return run_once(cloud, tap, name, spec=FROM_OBJECT)


def test_a_crash_at_the_read_of_a_maps_items_from_object_is_retried_and_ends_like_the_clean_run() -> None:
    # Given the clean run of the same map reading its five items from a JSON-lines object in S3
    clean_tap = CallTap()
    clean = run_from_object(clean_tap, "map-from-clean")
    assert clean.status == "complete" and clean.outcome == {"total": 1 + 4 + 16 + 9 + 25, "squares": 5}
    assert clean_tap.calls.count("s3.GetObject") == 1  # the object is read once, when the map is claimed
    # When that GetObject fails (S3 unreachable, or the Lambda dies there)
    tap = CallTap(fail_nth=("s3.GetObject", 1))
    crashed = run_from_object(tap, "map-from-crash")
    # Then it was the store's trouble, not the data's: the claim is retried and the run ends as the clean one
    assert tap.fired == "s3.GetObject"
    assert crashed == clean
