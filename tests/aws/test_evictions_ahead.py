"""test_evictions_ahead.py -- what leaves the header is put as its item before the commit (dynamodb_store
"Evictions ahead"), and a commit's several claims are put ahead at once ("Claims ahead").

A state entry or step record that leaves the header holds a committed value: its item is put by a plain
conditional PutItem before the fenced update (1 write unit) instead of inside the transaction (2), and
never over an item a later commit wrote. A commit of several claims puts each claim's record ahead, all
at once, and its transaction holds none of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_kit import AwsKit, record_calls
from test_inline_state import commit, every_read, items, new_execution

from runfox_core.aws.dynamodb_store import AT, INLINE_STATE, DynamoDBStore
from runfox_core.engine.records import Commit, StepRecord
from runfox_core.errors import ConflictError
from runfox_core.status import StepStatus


def writes(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, list[str]]]:
    """Each write call and the sort keys it writes."""
    out = []
    for op, params in calls:
        if op == "PutItem":
            out.append((op, [params["Item"]["sk"]["S"]]))
        elif op == "UpdateItem":
            out.append((op, [params["Key"]["sk"]["S"]]))
        elif op == "TransactWriteItems":
            out.append((op, [(a.get("Put", {}).get("Item") or a.get("Update", {}).get("Key"))["sk"]["S"]
                             for a in params["TransactItems"]]))
    return out


def test_an_entry_leaving_the_header_is_put_as_its_item_before_the_commit_not_in_a_transaction(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given entries riding in the header
    key = new_execution(store)
    commit(store, key, {"a": "x" * 100, "b": "y" * 10})
    # When a commit finds room for only 50 bytes of them
    store.inline_state_bytes = 50
    calls = record_calls(aws.dynamodb)
    commit(store, key, {})
    # Then the largest one's item was put first, and the commit was the header's one UpdateItem
    assert writes(calls) == [("PutItem", ["state#a"]), ("UpdateItem", ["header"])]
    stored = items(aws, key)
    assert set(stored["header"][INLINE_STATE]["M"]) == {"b"}
    assert every_read(store, key, "a") == ["x" * 100] * 3


def test_a_new_entry_takes_the_room_of_a_committed_one_when_that_costs_less_than_its_own_item(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a header whose room for state is full of small committed entries
    key = new_execution(store)
    store.inline_state_bytes = 60  # four entries of 12 bytes (and the map's 8)
    entries = {f"k{i}": "v" * 7 for i in range(1, 6)}
    commit(store, key, {k: entries[k] for k in ("k1", "k2", "k3", "k4")})
    held = set(items(aws, key)["header"][INLINE_STATE]["M"])
    assert held == {"k1", "k2", "k3", "k4"}
    # When a commit merges one more small entry
    calls = record_calls(aws.dynamodb)
    commit(store, key, {"k5": entries["k5"]})
    # Then the new entry rides in the header, and the entry it displaced was put ahead (1 write unit,
    # where the new one's item in a transaction would cost 2); no transaction
    after = set(items(aws, key)["header"][INLINE_STATE]["M"])
    assert "k5" in after and len(after) == len(held)
    (left,) = held - after
    assert writes(calls) == [("PutItem", [f"state#{left}"]), ("UpdateItem", ["header"])]
    assert store.load_state(key) == entries


def test_a_new_entry_never_displaces_more_than_its_own_item_would_cost(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a header holding three small committed entries
    key = new_execution(store)
    store.inline_state_bytes = 60
    commit(store, key, {"k1": 1, "k2": 2, "k3": 3})
    calls = record_calls(aws.dynamodb)
    # When a commit merges an entry that would need all of their room
    commit(store, key, {"big": "z" * 50})
    # Then it is an item of the commit's transaction, and they stay in the header
    assert writes(calls) == [("TransactWriteItems", ["header", "state#big"])]
    assert set(items(aws, key)["header"][INLINE_STATE]["M"]) == {"k1", "k2", "k3"}


def test_an_eviction_never_goes_back_over_a_value_a_later_commit_wrote(aws: AwsKit) -> None:
    # Given an entry riding in the header, as a stale process last read it
    stale, other = (DynamoDBStore(aws.workflows_table, client=aws.dynamodb) for _ in range(2))
    key = new_execution(stale)
    commit(stale, key, {"a": "old" * 20, "b": 1})
    header = stale.load_header(key)
    # And another process's commit that wrote a new value of it as its item
    other.inline_state_bytes = 0
    commit(other, key, {"a": "new" * 300})
    assert int(items(aws, key)["state#a"][AT]["N"]) == header.version + 1
    # When the stale process commits and evicts its old value of it
    stale.inline_state_bytes = 10
    with pytest.raises(ConflictError):
        commit(stale, key, {}, header=header)
    # Then the item still holds the later commit's value, and every read returns it
    assert every_read(other, key, "a") == ["new" * 300] * 3


def test_a_commit_that_loses_after_its_evictions_leaves_every_value_as_committed(aws: AwsKit) -> None:
    # Given entries riding in the header, and a process whose last read is a version gone by
    loser, other = (DynamoDBStore(aws.workflows_table, client=aws.dynamodb) for _ in range(2))
    key = new_execution(loser)
    commit(loser, key, {"a": "x" * 100, "b": 1})
    stale = loser.load_header(key)
    commit(other, key, {"c": 2})
    # When its commit evicts an entry ahead, then loses the race
    loser.inline_state_bytes = 50
    calls = record_calls(aws.dynamodb)
    with pytest.raises(ConflictError):
        commit(loser, key, {"b": 3}, header=stale)
    assert ("PutItem", ["state#a"]) in writes(calls)
    # Then every read sees what was committed: the evicted value (also in the header still), not the loser's b
    assert every_read(other, key, "a") == ["x" * 100] * 3
    assert other.load_state(key) == {"a": "x" * 100, "b": 1, "c": 2}


def claim(sid: str) -> StepRecord:
    return StepRecord(step_id=sid, token=sid, status=StepStatus.IN_PROGRESS, run_id=0, attempt=0, inputs={"i": sid})


def test_a_commit_of_several_claims_puts_each_record_ahead_at_once_and_its_transaction_holds_none(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given an execution
    key = new_execution(store)
    header = store.load_header(key)
    new = header.copy()
    new.version += 1
    calls = record_calls(aws.dynamodb)
    # When a commit claims five steps that any claimer would claim alike
    claims = {sid: claim(sid) for sid in ("w1", "w2", "w3", "w4", "w5")}
    store.commit(key, Commit(expected_version=header.version, header=new, steps=claims, claims=set(claims),
                             unsent_add={sid: [0, 1.0] for sid in claims}))
    # Then each record was put by a PutItem of its own before the commit, which wrote the header alone
    done = writes(calls)
    assert sorted(sk for _, (sk,) in done[:-1]) == [f"step#{sid}" for sid in sorted(claims)]
    assert {op for op, _ in done[:-1]} == {"PutItem"} and done[-1] == ("UpdateItem", ["header"])
    assert store.load_steps(key) == claims


def test_a_claim_whose_put_finds_a_record_past_it_goes_into_the_transaction_alone(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given w2 completed at run 0 (its item written: records as items, so the transaction below shows them)
    store.inline_record_bytes = 0
    key = new_execution(store)
    header = store.load_header(key)
    new = header.copy()
    new.version += 1
    completed = StepRecord(step_id="w2", token="w2", status=StepStatus.COMPLETE, run_id=0, output={"v": 1})
    store.commit(key, Commit(expected_version=header.version, header=new, steps={"w2": completed}))
    header = store.load_header(key)
    new = header.copy()
    new.version += 1
    calls = record_calls(aws.dynamodb)
    # When a commit claims w1, w2 and w3 at run 0
    claims = {sid: claim(sid) for sid in ("w1", "w2", "w3")}
    store.commit(key, Commit(expected_version=header.version, header=new, steps=claims, claims=set(claims),
                             unsent_add={sid: [0, 1.0] for sid in claims}))
    # Then w1's and w3's records went ahead; w2's (refused ahead) is written by the fenced transaction
    done = writes(calls)
    assert sorted(sk for op, (sk, *_) in done if op == "PutItem") == ["step#w1", "step#w2", "step#w3"]
    assert done[-1] == ("TransactWriteItems", ["header", "step#w2"])
    assert store.load_steps(key) == claims
