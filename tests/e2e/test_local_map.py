"""Map steps end to end on the local emulator: in every delivery mode, they end as in-process.

Jobs of a map go to the op queue of ``map.fn`` carrying their ``item``; the
executor Lambda answers each with one result message (a batch with one
message holding a list); the result router applies them. Shuffled and
duplicated deliveries must change nothing: every job is fenced by its own run.
Each mode runs once, the modes alternating one item and four items per job.
"""

from __future__ import annotations

import pytest
from e2e_kit import MODES, items_from_payload, run_in_process, run_local

from local.cloud import LocalCloud
from local.events import load_event


def batched(batch: int) -> dict:
    payload = load_event("map")
    payload["spec"] = payload["spec"].replace("max_concurrency: 3", f"max_concurrency: 3\n      batch: {batch}")
    payload["inputs"] = {"numbers": list(range(23))}
    return payload


@pytest.mark.parametrize(("mode", "batch"), [(mode, 1 + 3 * (i % 2)) for i, mode in enumerate(MODES)])
def test_a_map_ends_on_the_emulator_as_it_does_in_process(cloud: LocalCloud, mode: str, batch: int) -> None:
    # Given a map over 23 numbers, one per job or four per job
    payload = batched(batch)
    # When it runs through the deployed flow, delivered in this mode
    local = run_local(cloud, [payload], **MODES[mode])
    # Then it ends as in-process: every square in order, and their sum
    (end,) = local.endings
    assert end == run_in_process(payload)
    assert end.outcome["total"] == sum(n * n for n in range(23))


def test_a_map_over_an_empty_list_completes_on_the_emulator(cloud: LocalCloud) -> None:
    payload = load_event("map")
    payload["inputs"] = {"numbers": []}
    (end,) = run_local(cloud, [payload]).endings
    assert (end.status, end.outcome) == ("complete", {"squares": [], "total": 0})


def test_a_map_reads_its_items_from_an_s3_object_on_the_emulator(cloud: LocalCloud) -> None:
    # Given the map pattern with its items read from JSON lines in a bucket of the team's own
    payload = items_from_payload(cloud, list(range(17)))
    # When it runs through the deployed flow, results shuffled and delivered twice
    (end,) = run_local(cloud, [payload], **MODES["shuffled-twice"]).endings
    # Then every square comes back in item order, and their sum
    assert (end.status, end.outcome) == ("complete", {"squares": [{"squared": n * n} for n in range(17)],
                                                      "total": sum(n * n for n in range(17))})
