"""Crash anywhere in a map step: for every AWS call of a small map run, a run where that call fails
ends like the clean run (same outcome, same run ids, exact state), so the map's own writes (item
chunks, the window, job records) and its sends survive a Lambda dying at any point.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fault_kit import CONFIG, CallTap, Ending, crash_points, operations, run_once, tapped

from local.cloud import LocalCloud
from runfox_core.aws import config
from runfox_deploy.executors import load_executors_config

SPEC: dict[str, Any] = {"steps": [
    {"id": "seed", "fn": "increment", "input": {"value": {"var": "input.start"}}},
    {"id": "squares", "depends_on": ["seed"], "max_attempts": 2, "retry": {"backoff_seconds": 0},
     "map": {"items": {"merge": [[1, 2, 4], {"var": "steps.seed.output.incremented"}, [5]]}, "fn": "square",
             "input": {"value": {"var": "item"}}, "batch": 2, "max_concurrency": 2}},
    {"id": "total", "fn": "add", "depends_on": ["squares"],
     "input": {"values": {"map": [{"var": "steps.squares.output.results"}, {"var": "squared"}]}}}],
    "outputs": {"total": {"var": "steps.total.output.sum"}, "squares": {"var": "steps.squares.output.succeeded"}}}
EXECUTORS = dataclasses.replace(load_executors_config(CONFIG), ops={
    t: op for t, op in load_executors_config(CONFIG).ops.items() if t in ("increment", "square", "add")})


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_UNSENT_GRACE_SECONDS, "0")  # as in test_crash_anywhere.py


def run(tap: CallTap, name: str) -> Ending:
    with (pytest.MonkeyPatch.context() as monkeypatch,
          LocalCloud(EXECUTORS, quiet=True, in_process=True) as cloud, tapped(tap, monkeypatch)):
        return run_once(cloud, tap, name, spec=SPEC)


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_a_crash_at_any_aws_call_of_a_map_run_ends_like_the_clean_run(shard: int) -> None:
    # Given the clean run of a map of 5 items in batches of 2, two jobs at a time, between two steps
    clean_tap = CallTap()
    clean = run(clean_tap, "map-clean")
    assert clean.status == "complete" and clean.outcome == {"total": 1 + 4 + 16 + 9 + 25, "squares": 5}
    total = len(clean_tap.calls)
    broken = []
    # When each call k of this shard fails in turn (the Lambda dies there) and the system recovers by itself
    crashes = crash_points(total, shard, SHARDS)
    for k in crashes:
        tap = CallTap(fail_at=k)
        ending = run(tap, f"map-crash-{k}")
        assert tap.fired is not None, f"call {k} was never made"
        if ending != clean:
            broken.append((k, clean_tap.calls[k - 1], ending))
    # Then every run ends exactly like the clean one
    print(f"\ncrash-anywhere in a map, shard {shard + 1} of {SHARDS}: {total} AWS calls in the clean run "
          f"({', '.join(f'{op} {n}' for op, n in operations(clean_tap).most_common())}); "
          f"{len(crashes) - len(broken)}/{len(crashes)} crash runs ended exactly like the clean run")
    assert broken == []
