"""test_history_listing_contract.py -- the Store contract's history and listing, for every backend.

Uses the ``store`` fixture and builders of ``test_store_contract.py``: every
test runs against the in-memory, SQLite and DynamoDB (moto) stores.
"""

from __future__ import annotations

import pytest
import test_store_contract as contract

from runfox_core.backend.store import Store
from runfox_core.engine.records import Commit
from runfox_core.errors import ConflictError, ExecutionNotFoundError
from runfox_core.history import event_id, position
from runfox_core.listing import ListQuery
from runfox_core.status import WorkflowStatus

store = contract.store  # the fixture: every test runs on every backend
definition, header = contract.definition, contract.header


def commit_events(s: Store, key: str, events: list[dict], status: WorkflowStatus | None = None,
                  expected: int | None = None) -> int:
    current = s.load_header(key)
    base = current.version if expected is None else expected
    new = current.copy()
    new.version = base + 1
    if status is not None:
        new.status = status
    numbered = [{"id": event_id(base + 1, i), **e} for i, e in enumerate(events)]  # as ``Txn.event`` numbers them
    s.commit(key, Commit(expected_version=base, header=new, events=numbered))
    return base + 1


def ev(i: int, **more) -> dict:
    return {"type": "dispatched", "at": 1700000000.0 + i, "step": f"s{i}", "run_id": 0, **more}


def all_events(s: Store, key: str, page: int = 7) -> list[dict]:
    out, after = [], None
    while True:
        got = s.load_history(key, after, page)
        out += got
        if len(got) < page:
            return out
        after = position(got[-1])


def test_a_commits_events_are_stored_with_it_under_ids_of_its_version(store: Store) -> None:
    # Given an execution
    d = definition()
    store.create(d, header())
    # When two commits carry events
    v1 = commit_events(store, d.key, [ev(1), ev(2)])
    v2 = commit_events(store, d.key, [ev(3)])
    # Then the history holds them in order, each named <version>.<index>
    history = store.load_history(d.key)
    assert [e["id"] for e in history] == [f"{v1}.0", f"{v1}.1", f"{v2}.0"]
    assert [e["step"] for e in history] == ["s1", "s2", "s3"]
    assert history[0]["type"] == "dispatched" and history[0]["at"] == 1700000001.0


def test_a_commits_events_keep_the_ids_they_carry_with_the_gaps_of_those_a_record_keeps(store: Store) -> None:
    # Given an execution, and a commit whose second event a step's record keeps (its id is left unused)
    d = definition()
    store.create(d, header())
    new = store.load_header(d.key).copy()
    new.version = 1
    events = [{"id": "1.0", **ev(1)}, {"id": "1.2", **ev(2)}]
    store.commit(d.key, Commit(expected_version=0, header=new, events=events))
    # Then the history holds each under its own id, and pages from the gap
    assert [e["id"] for e in store.load_history(d.key)] == ["1.0", "1.2"]
    assert [e["id"] for e in store.load_history(d.key, (1, 1))] == ["1.2"]


def test_a_commit_that_conflicts_stores_none_of_its_events(store: Store) -> None:
    # Given an execution at version 1
    d = definition()
    store.create(d, header())
    commit_events(store, d.key, [ev(1)])
    # When a commit built on version 0 arrives late
    with pytest.raises(ConflictError):
        commit_events(store, d.key, [ev(99)], expected=0)
    # Then its event is not in the history
    assert [e["step"] for e in store.load_history(d.key)] == ["s1"]


def test_history_pages_from_a_cursor_over_many_commits_without_loss_or_repeat(store: Store) -> None:
    # Given 120 commits of 1 to 3 events, some with long errors (so stores that buffer must flush)
    d = definition()
    store.create(d, header())
    expected = []
    for i in range(120):
        events = [ev(i * 10 + j, error={"type": "E", "message": "x" * (i % 5) * 40}) for j in range(1 + i % 3)]
        commit_events(store, d.key, events)
        expected += [e["step"] for e in events]
    # When it is read in pages of 7
    got = all_events(store, d.key)
    # Then every event comes back once, in order
    assert [e["step"] for e in got] == expected
    assert [position(e) for e in got] == sorted(position(e) for e in got)


def test_a_commit_with_thousands_of_events_is_stored_whole(store: Store) -> None:
    # Given an execution
    d = definition()
    store.create(d, header())
    commit_events(store, d.key, [ev(0)])
    # When one commit records 2,000 events (a wide fan-out's claims), then another one event
    commit_events(store, d.key, [ev(i) for i in range(1, 2001)])
    commit_events(store, d.key, [ev(2001)])
    # Then all 2,002 are there, in order
    assert [e["step"] for e in all_events(store, d.key, page=500)] == [f"s{i}" for i in range(2002)]


def test_an_unknown_execution_has_no_history(store: Store) -> None:
    with pytest.raises(ExecutionNotFoundError):
        store.load_history("wf#nope")


def _started(i: int) -> str:
    return f"2026-11-{1 + i:02d}T10:00:00+00:00"


def listed(store: Store, query: ListQuery) -> list[str]:
    out, cursor = [], None
    while True:
        page = store.list_executions(ListQuery(**{**query.__dict__, "cursor": cursor}).checked())
        out += [e.execution for e in page.executions]
        if page.cursor is None:
            return out
        cursor = page.cursor


@pytest.fixture
def six(store: Store) -> Store:
    """Six executions started a day apart: e0..e5, named job-a-0.. (even) and job-b-1.. (odd), e4 unnamed;
    e1 and e3 completed, the rest pending."""
    for i in range(6):
        d = definition(f"e{i}", name=None if i == 4 else f"job-{'ab'[i % 2]}-{i}")
        d.created_at = _started(i)
        store.create(d, header())
        if i in (1, 3):
            commit_events(store, d.key, [], status=WorkflowStatus.COMPLETE)
    return store


def test_list_is_newest_first_and_pages_through_every_execution_once(six: Store) -> None:
    assert listed(six, ListQuery(limit=4)) == [f"wf#e{i}" for i in (5, 4, 3, 2, 1, 0)]


def test_list_by_status_follows_status_changes(six: Store) -> None:
    assert listed(six, ListQuery(status=WorkflowStatus.COMPLETE, limit=1)) == ["wf#e3", "wf#e1"]
    assert listed(six, ListQuery(status=WorkflowStatus.PENDING)) == ["wf#e5", "wf#e4", "wf#e2", "wf#e0"]
    page = six.list_executions(ListQuery(status=WorkflowStatus.COMPLETE).checked())
    assert {e.status for e in page.executions} == {WorkflowStatus.COMPLETE}


def test_list_by_name_prefix_is_in_name_order_and_skips_unnamed_executions(six: Store) -> None:
    assert listed(six, ListQuery(name_prefix="job-b-", limit=2)) == ["wf#e1", "wf#e3", "wf#e5"]
    assert listed(six, ListQuery(name_prefix="job-")) == ["wf#e0", "wf#e2", "wf#e1", "wf#e3", "wf#e5"]
    named = six.list_executions(ListQuery(name_prefix="job-a").checked()).executions
    assert [(e.name, e.status) for e in named] == [("job-a-0", WorkflowStatus.PENDING),
                                                   ("job-a-2", WorkflowStatus.PENDING)]


def test_list_by_start_time_and_combined_filters(six: Store) -> None:
    window = {"since": "2026-11-02T00:00:00Z", "until": "2026-11-05T00:00:00Z"}
    assert listed(six, ListQuery(**window)) == ["wf#e3", "wf#e2", "wf#e1"]
    assert listed(six, ListQuery(status=WorkflowStatus.COMPLETE, since="2026-11-03")) == ["wf#e3"]
    assert listed(six, ListQuery(name_prefix="job-b", status=WorkflowStatus.PENDING)) == ["wf#e5"]
    assert listed(six, ListQuery(name_prefix="job-", **window)) == ["wf#e2", "wf#e1", "wf#e3"]


def test_a_bad_listing_query_names_the_field() -> None:
    with pytest.raises(ValueError, match="since 'yesterday'"):
        ListQuery(since="yesterday").checked()
    with pytest.raises(ValueError, match="limit"):
        ListQuery(limit=0).checked()
    with pytest.raises(ValueError, match="not one a listing returned"):
        ListQuery(cursor="%%%").checked()


def test_an_execution_keeps_a_hundred_thousand_events_and_pages_anywhere_in_them(store: Store) -> None:
    # Given 100,000 events over 200 commits (no store keeps them in one growing item)
    d = definition()
    store.create(d, header())
    for c in range(200):
        commit_events(store, d.key, [ev(c * 500 + i) for i in range(500)])
    # When pages are read from the start, from the middle and at the end
    first = store.load_history(d.key, None, 1000)
    middle = store.load_history(d.key, position(first[-1]), 1000)
    last = store.load_history(d.key, (200, 498), 1000)
    # Then each holds the events that follow its cursor, and the last one ends the log
    assert [e["step"] for e in first] == [f"s{i}" for i in range(1000)]
    assert [e["step"] for e in middle] == [f"s{i}" for i in range(1000, 2000)]
    assert [e["step"] for e in last] == ["s99999"] and last[0]["id"] == "200.499"
