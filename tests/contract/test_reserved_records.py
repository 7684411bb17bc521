"""The records a step kind keeps beside the step records (engine/wait.py: ``~wait~``, ``~mailbox~`` and
``~event~<name>~<event_id>`` ids, which no step id can take), and the event id a wait's own record keeps,
round-trip on every store with the Store's own primitives."""

from __future__ import annotations

from test_store_contract import commit_on, definition, header, record, store  # noqa: F401 -- the fixture

from runfox_core.backend.store import Store
from runfox_core.engine.records import StepRecord
from runfox_core.engine.wait import MAX_EVENT_ID_CHARS, mailbox_id, retired_id, wait_record_id
from runfox_core.status import StepStatus

LONGEST_EVENT_ID = "e" + ":.-_" * ((MAX_EVENT_ID_CHARS - 1) // 4) + "9" * ((MAX_EVENT_ID_CHARS - 1) % 4)
LONGEST_EVENT_NAME = "n" * 64


def kept(rid: str, data: dict) -> StepRecord:
    return StepRecord(step_id=rid, token="", status=StepStatus.COMPLETE, output=data)


def test_a_kinds_records_are_stored_read_by_id_and_listed_with_the_steps(store: Store) -> None:  # noqa: F811
    # Given an execution with a step record
    d = definition()
    store.create(d, header())
    commit_on(store, d.key, steps={"a": record("a")})
    # When records under reserved ids (the longest event name and id included) are committed with it
    ids = [wait_record_id("a"), retired_id(LONGEST_EVENT_NAME, LONGEST_EVENT_ID), mailbox_id("approved")]
    assert len(LONGEST_EVENT_ID) == MAX_EVENT_ID_CHARS
    records = {rid: kept(rid, {"n": i, "payload": {"deep": [1, {"x": None}]}}) for i, rid in enumerate(ids)}
    commit_on(store, d.key, steps=records)
    # Then each reads back by its id, alone or with step ids, and a listing of all records holds them
    assert store.load_steps(d.key, ids) == records
    assert store.load_steps(d.key, ["a", ids[1], retired_id("approved", "never-sent")]).keys() == {"a", ids[1]}
    assert set(store.load_steps(d.key, None)) == {"a", *ids}


def test_a_kinds_record_is_replaced_whole_by_a_later_commit(store: Store) -> None:  # noqa: F811
    d = definition()
    store.create(d, header())
    rid = mailbox_id("approved")
    commit_on(store, d.key, steps={rid: kept(rid, {"events": [["e1", {"a": 1}], ["e2", {}]]})})
    commit_on(store, d.key, steps={rid: kept(rid, {"events": [["e2", {}]]})})
    assert store.load_steps(d.key, [rid])[rid].output == {"events": [["e2", {}]]}


def test_a_waits_record_keeps_the_id_of_the_event_it_took_and_a_record_without_one_reads_as_none(
        store: Store) -> None:  # noqa: F811
    d = definition()
    store.create(d, header())
    took = record("approval", status=StepStatus.COMPLETE, output={"by": "ann"}, event_id=LONGEST_EVENT_ID)
    commit_on(store, d.key, steps={"approval": took, "a": record("a")})
    loaded = store.load_steps(d.key, ["approval", "a"])
    assert loaded["approval"] == took and loaded["approval"].event_id == LONGEST_EVENT_ID
    assert loaded["a"].event_id is None and "event_id" not in loaded["a"].to_dict()  # no room taken without one
    assert StepRecord.from_dict({k: v for k, v in took.to_dict().items() if k != "event_id"}).event_id is None
