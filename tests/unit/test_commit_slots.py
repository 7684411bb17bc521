"""Commit.slots: the records a store may write ahead of its fenced update are exactly the map results
records a commit opens, each at the slot the committed window counted up to before it (so no reader
reads it until that commit lands); a commit adding to none, a map without keep_results and a plain
task mark none."""

from __future__ import annotations

from typing import Any

import map_kit

import runfox_core as rfx
from runfox_core.backend.inmemory_store import InMemoryStore
from runfox_core.engine.map import results_id, window_id
from runfox_core.engine.records import Commit
from runfox_core.results import Dispatch, StepResult


class Noting(InMemoryStore):
    """An in-memory store that notes, per commit, its slots, the results records it writes and the
    map window's ``records`` it writes (None when it writes no window)."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[tuple[set[str], set[str], int | None]] = []

    def commit(self, key: str, commit: Commit) -> None:
        super().commit(key, commit)
        window = commit.steps.get(window_id("sq"))
        counted = window.output["records"] if window is not None and window.output else None
        self.commits.append((set(commit.slots), {s for s in commit.steps if ":results:" in s}, counted))


def test_each_commit_marks_the_results_record_it_opens_at_the_slot_the_window_counted_before() -> None:
    # Given a map of 12 items whose results come back one, then three, then the rest in one batch
    store = Noting()
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=list(range(12)), max_concurrency=12), rfx.Backend(store=store))
    dispatched = wf.advance()
    assert isinstance(dispatched, Dispatch)
    answers = [map_kit.square(job) for job in dispatched.jobs]
    # When they are applied in three commits
    for group in (answers[:1], answers[1:4], answers[4:]):
        wf.on_step_results(group)
    # Then each result commit opened one record, at the slot the last committed window counted up to,
    # and marked exactly it
    assert str(wf.status) == "complete"
    counted, opened = 0, []
    for slots, written, records in store.commits:
        assert slots == written == {results_id("sq", 0, n) for n in range(counted, records or counted)}
        opened += sorted(slots)
        counted = records if records is not None else counted
    assert opened == [results_id("sq", 0, n) for n in range(3)]


def big(job: Any) -> StepResult:
    return StepResult(job.execution_key, job.step, job.run_id, item=job.item, output={"blob": "x" * 20_000})


def test_a_commit_whose_results_fill_more_than_one_record_marks_each_record_it_opens() -> None:
    # Given a map of three jobs whose results are 20 KB each (a results record holds 32 KB)
    store = Noting()
    backend = rfx.Backend(store=store)
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=[1, 2, 3]), backend)
    dispatched = wf.advance()
    assert isinstance(dispatched, Dispatch)
    # When all three come back in one commit
    wf.on_step_results([big(job) for job in dispatched.jobs])
    # Then that commit opened three records and marked all three
    assert str(wf.status) == "complete"
    (slots,) = [slots for slots, _, _ in store.commits if slots]
    assert slots == {results_id("sq", 0, n) for n in range(3)}


def test_a_map_without_keep_results_and_a_task_mark_no_slot() -> None:
    # Given a map that keeps only counts, followed by a task
    store = Noting()
    spec = map_kit.mapped(items=list(range(5)), keep_results=False)
    spec["steps"].append({"id": "after", "fn": "square", "depends_on": ["sq"], "input": {"x": 2}})
    wf = rfx.Workflow.from_dict(spec, rfx.Backend(store=store))
    # When it runs to its end
    result, _ = map_kit.drive(wf)
    # Then no commit marked a slot (nor wrote a results record)
    assert isinstance(result, rfx.Complete)
    assert all(not slots and not written for slots, written, _ in store.commits)
