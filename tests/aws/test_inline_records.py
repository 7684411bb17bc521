"""test_inline_records.py -- step records that ride in the header (dynamodb_store "Inline records").

A commit that claims jobs (so ``mark_sent`` follows) or ends the execution keeps the records it writes in
the header while it has room, and is then one UpdateItem; ``mark_sent`` puts them as their items and drops
the header's copies; every read sees the newest record either way.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aws_kit import AwsKit, record_calls
from test_inline_state import new_execution

from runfox_core.aws import _items as it
from runfox_core.aws.dynamodb_store import RECS, DynamoDBStore
from runfox_core.engine.records import Commit, StepRecord
from runfox_core.status import StepStatus, WorkflowStatus


def done(sid: str, value: Any = 1) -> StepRecord:
    return StepRecord(step_id=sid, token="op", status=StepStatus.COMPLETE, run_id=0, output={"v": value})


def commit(store: DynamoDBStore, key: str, *records: StepRecord, claims: tuple[str, ...] = (),
           status: WorkflowStatus | None = None) -> int:
    """Commit ``records``; ``claims``: steps whose jobs the commit claims (an unsent entry each)."""
    header = store.load_header(key)
    new = header.copy()
    new.version += 1
    if status is not None:
        new.status = status
    store.commit(key, Commit(expected_version=header.version, header=new, steps={r.step_id: r for r in records},
                             unsent_add={sid: [0, 1.0] for sid in claims}))
    return new.version


def item(aws: AwsKit, key: str, sk: str) -> dict[str, Any] | None:
    return aws.dynamodb.get_item(TableName=aws.workflows_table, Key={"pk": {"S": key}, "sk": {"S": sk}}).get("Item")


def every_read(store: DynamoDBStore, key: str, sid: str) -> list[Any]:
    """``sid``'s output as each kind of read returns it: by key, whole, and in an atomic snapshot."""
    return [store.load_steps(key, [sid])[sid].output, store.load_steps(key)[sid].output,
            store.load_snapshot(key, [sid], [])[1][sid].output]


def test_a_claiming_commit_keeps_its_record_in_the_header_and_is_one_update_item(
        aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    commit(store, key, done("a"), claims=("b",))
    assert [op for op, _ in calls if op in ("UpdateItem", "TransactWriteItems", "PutItem")] == ["UpdateItem"]
    assert item(aws, key, "step#a") is None and "a" in item(aws, key, "header")[RECS]["M"]  # type: ignore[index]
    assert every_read(store, key, "a") == [{"v": 1}] * 3


def test_mark_sent_puts_the_record_as_its_item_and_drops_the_headers_copy_in_its_one_update(
        aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, done("a"), claims=("b",))
    calls = record_calls(aws.dynamodb)
    store.mark_sent(key, {"b": 0})
    assert [op for op, _ in calls] == ["PutItem", "UpdateItem"]
    header = item(aws, key, "header") or {}
    assert item(aws, key, "step#a") is not None and header.get(RECS, {"M": {}})["M"] == {}
    assert every_read(store, key, "a") == [{"v": 1}] * 3


def test_a_process_that_dies_before_mark_sent_leaves_the_record_in_the_header_for_every_reader(
        aws: AwsKit) -> None:
    died, other = (DynamoDBStore(aws.workflows_table, client=aws.dynamodb) for _ in range(2))
    key = new_execution(died)
    commit(died, key, done("a"), claims=("b",))  # and no mark_sent: the process died
    assert every_read(other, key, "a") == [{"v": 1}] * 3
    # And another process's commit keeps it there (no item holds it yet) and reads it back
    commit(other, key, done("b", 2), claims=("c",))
    assert item(aws, key, "step#a") is None and every_read(other, key, "a") == [{"v": 1}] * 3


def test_a_record_the_header_has_no_room_for_any_more_moves_to_its_item_inside_the_fenced_commit(
        aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, done("a"), claims=("b",))
    # When a later commit claims with a record too large for the header (it goes in a transaction)
    calls = record_calls(aws.dynamodb)
    commit(store, key, done("big", "y" * 2_000), claims=("c",))
    (txn,) = [params for op, params in calls if op == "TransactWriteItems"]
    written = sorted(a["Put"]["Item"]["sk"]["S"] for a in txn["TransactItems"] if "Put" in a)
    assert written == ["step#big"]  # a still fits: it stays in the header
    assert every_read(store, key, "a") == [{"v": 1}] * 3 and every_read(store, key, "big") == [{"v": "y" * 2_000}] * 3


def test_a_write_behind_never_goes_back_over_a_record_a_later_commit_wrote(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, done("a", 1), claims=("b",))
    late = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    late._behind = store._behind.copy()  # a slow process about to write a's version-1 record behind
    store.mark_sent(key, {"b": 0})
    commit(store, key, done("a", "y" * 2_000), claims=("c",))  # a rewritten, as an item (too large for the header)
    late.mark_sent(key, {"b": 0})
    assert every_read(store, key, "a") == [{"v": "y" * 2_000}] * 3


def test_a_commit_that_ends_the_execution_keeps_its_records_in_the_header(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    commit(store, key, done("a"), status=WorkflowStatus.COMPLETE)
    assert [op for op, _ in calls if op in ("UpdateItem", "TransactWriteItems", "PutItem")] == ["UpdateItem"]
    assert store._behind.get(key) is None and every_read(store, key, "a") == [{"v": 1}] * 3


def test_a_commit_that_claims_nothing_keeps_its_records_in_the_header_until_a_commit_needs_the_room(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a commit that claims nothing: its record rides in the header, with no item (no mark_sent follows)
    key = new_execution(store)
    commit(store, key, done("a"))
    assert item(aws, key, "step#a") is None and "a" in item(aws, key, "header")[RECS]["M"]  # type: ignore[index]
    # When a later commit finds no room for it (as when the header has grown to a write unit's edge)
    store.inline_record_bytes = 10
    calls = record_calls(aws.dynamodb)
    commit(store, key)
    # Then its item was put ahead of that commit's update ("Evictions ahead"), and it reads back the same
    assert [(op, params.get("Item", params.get("Key", {})).get("sk")) for op, params in calls
            if op in ("PutItem", "UpdateItem", "TransactWriteItems")] == [
        ("PutItem", {"S": "step#a"}), ("UpdateItem", {"S": "header"})]
    assert item(aws, key, "step#a") is not None and every_read(store, key, "a") == [{"v": 1}] * 3


def test_mark_sent_flushes_a_full_history_buffer_after_the_send_and_the_history_reads_the_same(
        aws: AwsKit, store: DynamoDBStore) -> None:
    from runfox_core.aws.dynamodb_store import LOG, LOG_FLUSH_BEHIND_BYTES

    key = new_execution(store)
    sent: list[dict[str, Any]] = []
    for i in range(40):  # each commit claims a job and records an event; its mark_sent follows
        header = store.load_header(key)
        new = header.copy()
        new.version += 1
        event = {"type": "StepStarted", "step": f"s{i}", "note": secrets.token_hex(8)}
        store.commit(key, Commit(expected_version=header.version, header=new, unsent_add={f"s{i}": [0, 1.0]},
                                 events=[{"id": f"{new.version}.0", **event}]))
        store.mark_sent(key, {f"s{i}": 0})
        sent.append(event)
        buffered = (item(aws, key, "header") or {}).get(LOG, {}).get("B", b"")
        assert len(buffered) < LOG_FLUSH_BEHIND_BYTES  # flushed behind the send once it reached the threshold
    history = [{k: v for k, v in e.items() if k != "id"} for e in store.load_history(key)]
    assert history == sent


def room_for_one(aws: AwsKit, key: str) -> int:
    """The bytes the header's records take now, holding one small record: room for that one alone."""
    return it.item_size({RECS: item(aws, key, "header")[RECS]})  # type: ignore[index]


def test_a_new_record_takes_the_room_of_a_committed_one_and_the_commit_stays_one_update(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a commit that claims nothing, whose record rides in the header (no mark_sent follows)
    key = new_execution(store)
    commit(store, key, done("a"))
    # When a later commit's record finds room only if a's leaves (room for one record)
    store.inline_record_bytes = room_for_one(aws, key)
    calls = record_calls(aws.dynamodb)
    commit(store, key, done("b", 2))
    # Then a's item was put ahead (1 write unit) and b rides in the header's one UpdateItem, where b as an
    # item of a transaction would have cost 2 and the header's own units twice
    assert [(op, params.get("Item", params.get("Key", {})).get("sk")) for op, params in calls
            if op in ("PutItem", "UpdateItem", "TransactWriteItems")] == [
        ("PutItem", {"S": "step#a"}), ("UpdateItem", {"S": "header"})]
    assert set(item(aws, key, "header")[RECS]["M"]) == {"b"}  # type: ignore[index]
    assert every_read(store, key, "a") == [{"v": 1}] * 3 and every_read(store, key, "b") == [{"v": 2}] * 3


def test_a_record_evicted_before_its_mark_sent_is_not_written_behind_again(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a claiming commit whose record rides in the header, its mark_sent not come yet
    key = new_execution(store)
    commit(store, key, done("a"), claims=("b",))
    # When a later commit of this store evicts it (room for one record) and then the jobs are confirmed
    store.inline_record_bytes = room_for_one(aws, key)
    commit(store, key, done("c", 3))
    calls = record_calls(aws.dynamodb)
    store.mark_sent(key, {"b": 0})
    # Then a is not put again (its item already holds it; c, placed since, is written behind) and the
    # update that drops the header's copies does not fail on a's, already gone
    assert [(op, params.get("Item", params.get("Key", {})).get("sk")) for op, params in calls] == [
        ("PutItem", {"S": "step#c"}), ("UpdateItem", {"S": "header"})]
    assert every_read(store, key, "a") == [{"v": 1}] * 3 and every_read(store, key, "c") == [{"v": 3}] * 3


def test_a_record_rides_in_the_header_as_the_fields_it_has_less_its_step_id(
        aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, done("a"))
    text = item(aws, key, "header")[RECS]["M"]["a"]["M"]["r"]["S"]  # type: ignore[index]
    assert json.loads(text) == {"output": {"v": 1}, "status": "complete", "token": "op"}  # (run 0, attempt 0)
    assert store.load_steps(key, ["a"])["a"] == done("a")
