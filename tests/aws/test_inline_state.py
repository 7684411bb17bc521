"""test_inline_state.py -- state entries that ride in the header (dynamodb_store "Inline state").

A small entry costs no item of its own while the header stays within the
write units it takes anyway; a large one, or one the header no longer has
room for, is an item as before; readers see the newest either way.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from aws_kit import AwsKit, record_calls

from runfox_core.aws import _items
from runfox_core.aws.dynamodb_store import INLINE_STATE, DynamoDBStore
from runfox_core.engine.records import Commit, ExecutionDefinition, ExecutionHeader
from runfox_core.errors import ConflictError
from runfox_core.status import WorkflowStatus


def new_execution(store: DynamoDBStore) -> str:
    d = ExecutionDefinition("wf", secrets.token_hex(4), {"steps": []}, {}, "2024-01-01T00:00:00+00:00")
    store.create(d, ExecutionHeader(status=WorkflowStatus.IN_PROGRESS, version=0, remaining=1))
    return d.key


def commit(store: DynamoDBStore, key: str, state: dict[str, Any], header: ExecutionHeader | None = None,
           error: dict[str, Any] | None = None) -> None:
    header = header or store.load_header(key)
    new = header.copy()
    new.version += 1
    if error is not None:
        new.error = error
    store.commit(key, Commit(expected_version=header.version, header=new, state=state))


def items(aws: AwsKit, key: str) -> dict[str, dict[str, Any]]:
    rows = aws.dynamodb.query(TableName=aws.workflows_table, KeyConditionExpression="pk = :k",
                              ExpressionAttributeValues={":k": {"S": key}})["Items"]
    return {row["sk"]["S"]: row for row in rows}


def every_read(store: DynamoDBStore, key: str, k: str) -> list[Any]:
    """``k`` as each kind of read returns it: by key, whole, and in an atomic snapshot."""
    return [store.load_state(key, [k]).get(k), store.load_state(key).get(k),
            store.load_snapshot(key, [], [k])[2].get(k)]


def test_a_small_state_entry_rides_in_the_header_and_writes_no_item_of_its_own(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an execution
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    # When a commit merges a small entry into its state
    commit(store, key, {"x": 1})
    # Then the commit wrote the header alone (one UpdateItem, no transaction), and no state item exists
    assert [op for op, _ in calls if op in ("TransactWriteItems", "UpdateItem", "PutItem")] == ["UpdateItem"]
    assert "state#x" not in items(aws, key) and INLINE_STATE in items(aws, key)["header"]
    # And every read returns it
    assert every_read(store, key, "x") == [1, 1, 1]


def test_an_entry_too_large_for_the_headers_write_unit_is_an_item_of_its_own(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an execution
    key = new_execution(store)
    # When a commit merges an entry of 2 KB beside a small one
    big = "b" * 2048
    commit(store, key, {"big": big, "x": 1})
    # Then the large one is an item, the small one rides in the header, and both read back
    stored = items(aws, key)
    assert "state#big" in stored and "state#x" not in stored
    assert store.load_state(key) == {"big": big, "x": 1}


def test_an_entry_that_moves_into_the_header_hides_its_older_item_from_every_read(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an entry first too large to ride in the header (an item of its own)
    key = new_execution(store)
    commit(store, key, {"doc": "d" * 2048})
    # When a later commit makes it small
    commit(store, key, {"doc": "short"})
    # Then the older item is still stored, but every read returns the newer value from the header
    assert "state#doc" in items(aws, key)
    assert every_read(store, key, "doc") == ["short", "short", "short"]


def test_entries_in_the_header_move_to_items_when_it_has_no_room_for_them_any_more(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given entries riding in the header
    key = new_execution(store)
    commit(store, key, {"a": "x" * 100, "b": "y" * 10})
    assert not [sk for sk in items(aws, key) if sk.startswith("state#")]
    # When a commit that changes no state finds room for only 50 bytes of them (as when the header
    # has grown close to a write unit's edge, by its history buffer or a long error)
    store.inline_state_bytes = 50
    commit(store, key, {})
    # Then the largest entry left the header for an item of its own, and neither entry changed
    stored = items(aws, key)
    assert "state#a" in stored and "state#b" not in stored
    assert set(stored["header"][INLINE_STATE]["M"]) == {"b"}
    assert store.load_state(key) == {"a": "x" * 100, "b": "y" * 10}
    assert every_read(store, key, "a") == ["x" * 100] * 3


def test_a_header_that_grows_past_1_kb_without_state_changes_keeps_its_entries_in_the_same_units(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an entry riding in the header
    key = new_execution(store)
    commit(store, key, {"x": 1})
    # When a commit grows the header past 1 KB (a long error message that does not compress)
    commit(store, key, {}, error={"type": "Boom", "message": secrets.token_urlsafe(1500)})
    # Then the entry still rides in it (the header takes 2 write units with or without it) and reads back
    assert "state#x" not in items(aws, key)
    assert every_read(store, key, "x") == [1, 1, 1]


def test_a_store_that_never_read_the_header_keeps_the_entries_already_in_it(aws: AwsKit) -> None:
    # Given an entry riding in the header, committed by one store
    first = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    key = new_execution(first)
    commit(first, key, {"x": 1})
    # When another store commits on the header the first one read (never having read it itself)
    other = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    calls = record_calls(aws.dynamodb)
    commit(other, key, {"y": 2}, header=first.load_header(key))
    # Then it read the header's entries once before committing, and both entries are there
    assert [op for op, _ in calls].count("GetItem") == 2  # the first store's load, the other's one read
    assert first.load_state(key) == {"x": 1, "y": 2}


def test_a_commit_on_a_version_that_has_moved_on_changes_no_state_entry(aws: AwsKit) -> None:
    # Given two stores that read the same header, and the first commits an entry
    first = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    second = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    key = new_execution(first)
    stale = second.load_header(key)
    commit(first, key, {"x": 1})
    # When the second commits on the version it read
    with pytest.raises(ConflictError):
        commit(second, key, {"x": 2, "y": 3}, header=stale)
    # Then nothing of it was applied
    assert first.load_state(key) == {"x": 1}


def test_entries_never_take_the_header_past_the_write_unit_it_holds_without_them(aws: AwsKit) -> None:
    # Given an execution with the longest name (an attribute of the header that commits never rewrite)
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    d = ExecutionDefinition("wf", secrets.token_hex(4), {"steps": []}, {}, "2024-01-01T00:00:00+00:00",
                            "n" * 128)
    store.create(d, ExecutionHeader(status=WorkflowStatus.IN_PROGRESS, version=0, remaining=1))
    # When a commit merges more small entries than 1 KB holds
    commit(store, d.key, {f"key{i:03d}": i for i in range(120)})
    # Then the header, as stored, is still within 1 KB, the rest are items, and all read back
    header = items(aws, d.key)["header"]
    assert _items.item_size(header) <= 1024 and INLINE_STATE in header
    assert [sk for sk in items(aws, d.key) if sk.startswith("state#")]
    assert store.load_state(d.key) == {f"key{i:03d}": i for i in range(120)}


def test_a_snapshot_does_not_read_the_item_of_an_entry_the_header_holds(aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an entry that rides in the header, on a store that has seen that header
    key = new_execution(store)
    commit(store, key, {"x": 1})
    calls = record_calls(aws.dynamodb)
    # When a snapshot asks for it
    _, _, state = store.load_snapshot(key, [], ["x"])
    # Then it reads the header alone (the entry's item would cost 2 read units for nothing)
    (snapshot,) = [params for op, params in calls if op == "TransactGetItems"]
    assert [get["Get"]["Key"]["sk"]["S"] for get in snapshot["TransactItems"]] == ["header"]
    assert state == {"x": 1}


def test_a_snapshot_reads_by_key_an_entry_that_left_the_header_since_the_store_last_saw_it(aws: AwsKit) -> None:
    # Given a store that saw x in the header, and another store moving x to an item of its own
    seen, other = (DynamoDBStore(aws.workflows_table, client=aws.dynamodb) for _ in range(2))
    key = new_execution(seen)
    commit(seen, key, {"x": 1})
    commit(other, key, {"x": "y" * 2_000})
    # When the first store takes a snapshot of x
    _, _, state = seen.load_snapshot(key, [], ["x"])
    # Then it has the item's value, read after the header
    assert state == {"x": "y" * 2_000}


def test_the_whole_state_after_a_header_read_is_one_query_with_the_entries_that_header_held(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given state in the header and in an item, and a transition that has read the header
    key = new_execution(store)
    commit(store, key, {"small": 1, "big": "b" * 2048})
    version = store.load_snapshot(key, [], [])[0].version
    calls = record_calls(aws.dynamodb)
    # When it reads the whole state (a step whose input is {"var": "state"})
    state = store.load_state_after(key, version)
    # Then that is one Query of the state items, the header's entries taken from the read it made
    assert [op for op, _ in calls] == ["Query"] and state == {"small": 1, "big": "b" * 2048}


def test_the_whole_state_after_a_header_read_the_store_does_not_know_reads_the_header_again(
        aws: AwsKit) -> None:
    # Given a store that last saw the header at an older version than the caller's
    store, other = (DynamoDBStore(aws.workflows_table, client=aws.dynamodb) for _ in range(2))
    key = new_execution(store)
    commit(store, key, {"x": 1})
    commit(other, key, {"x": 2})
    newer = other.load_header(key).version
    calls = record_calls(aws.dynamodb)
    # When it is asked for the whole state after the newer header
    state = store.load_state_after(key, newer)
    # Then it reads the header again, then the items, and returns the newer value
    assert [op for op, _ in calls] == ["GetItem", "Query"] and state == {"x": 2}
