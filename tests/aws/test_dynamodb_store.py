"""test_dynamodb_store.py -- what only the DynamoDB store has: limits, call shapes, error mapping.

The Store contract itself is tests/contract/test_store_contract.py.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from aws_kit import AwsKit, record_calls
from botocore.exceptions import ClientError

from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.exceptions import CommitTooLargeError, ItemTooLargeError
from runfox_core.engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from runfox_core.errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError, PayloadError
from runfox_core.status import StepStatus, WorkflowStatus


def new_execution(store: DynamoDBStore, spec: dict[str, Any] | None = None, name: str | None = None) -> str:
    d = ExecutionDefinition("wf", secrets.token_hex(4), spec or {"steps": []}, {}, "2024-01-01T00:00:00+00:00", name)
    store.create(d, ExecutionHeader(status=WorkflowStatus.PENDING, version=0, remaining=1, ready={"a": 0.0}))
    return d.key


def commit(store: DynamoDBStore, key: str, **parts: Any) -> Commit:
    header = store.load_header(key)
    new = header.copy()
    new.version += 1
    c = Commit(expected_version=header.version, header=new, **parts)
    store.commit(key, c)
    return c


def record(sid: str, **kw: Any) -> StepRecord:
    return StepRecord(step_id=sid, token="op_a", status=StepStatus.COMPLETE, run_id=1, **kw)


def transaction_cancelled(*codes: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
         "CancellationReasons": [{"Code": c} for c in codes]},
        "TransactWriteItems",
    )


class Failing:
    """The moto client, except that the first ``times`` TransactWriteItems raise ``error``."""

    def __init__(self, client: Any, error: Exception, times: int = 1):
        self.client, self.error, self.times = client, error, times

    def transact_write_items(self, **kw: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            raise self.error
        return self.client.transact_write_items(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_step_record_over_400_kb_raises_naming_the_step_and_writes_nothing(store: DynamoDBStore) -> None:
    key = new_execution(store)
    # (random text: a record over 1 KB is stored compressed, and repeated letters would fit)
    big = record("fat", inputs={"i": secrets.token_urlsafe(240_000)}, output={"o": secrets.token_urlsafe(240_000)})
    with pytest.raises(ItemTooLargeError, match=r"step 'fat' record is 4\d\d,\d\d\d bytes") as err:
        commit(store, key, steps={"fat": big})
    assert isinstance(err.value, PayloadError)
    assert store.load_header(key).version == 0 and store.load_steps(key) == {}


def test_a_record_over_1_kb_is_stored_compressed_and_read_back_exactly(aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a record of 20 KB of repeated JSON (ten map results, a chunk of item keys) and a small one, as items
    store.inline_record_bytes = 0
    key = new_execution(store)
    results = [{"doc": f"doc-{i:05d}", "label": "ok", "score": i / 7} for i in range(200)]
    commit(store, key, steps={"big": record("big", output={"results": results}), "small": record("small")})
    # Then the large one is a binary item under 1 KB per 4 KB of JSON, the small one plain JSON text
    items = {i["sk"]["S"]: i for i in aws.dynamodb.scan(TableName=aws.workflows_table)["Items"]}
    assert "B" in items["step#big"]["record"] and len(items["step#big"]["record"]["B"]) < 20_000 // 4
    assert "S" in items["step#small"]["record"]
    # And both read back exactly, by key and whole
    assert store.load_steps(key, ["big"])["big"].output == {"results": results}
    assert store.load_steps(key)["small"] == record("small")


def test_compressed_records_in_a_journaled_commit_are_applied_exactly(store: DynamoDBStore) -> None:
    # Given a commit of 150 records of 2 KB each (past one transaction: some travel in journal pieces)
    key = new_execution(store)
    outputs = {f"s{i}": {"keys": [f"item-{i}-{j:04d}" for j in range(100)]} for i in range(150)}
    commit(store, key, steps={sid: record(sid, output=out) for sid, out in outputs.items()})
    # Then every record reads back as written
    assert {sid: r.output for sid, r in store.load_steps(key).items()} == outputs


def test_a_commit_over_100_items_is_applied_whole_through_a_journal_that_is_then_deleted(
        aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a commit of 250 step records and 250 state entries of 100 bytes (five transactions' worth:
    # the few entries that ride in the header, "Inline state", leave the count of pieces as it is)
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    state = {f"k{i}": f"{i:0100d}" for i in range(250)}
    commit(store, key, steps={f"s{i}": record(f"s{i}") for i in range(250)}, state=state)
    # Then it went out as journal puts, the fenced header transaction and one transaction per piece
    ops = [op for op, _ in calls]
    pieces = ops.count("PutItem")
    assert pieces >= 4 and ops.count("TransactWriteItems") == pieces + 1 and ops[-1] == "BatchWriteItem"
    assert all(len(p["TransactItems"]) <= 100 for op, p in calls if op == "TransactWriteItems")
    # And all of it is there, no marker or journal entry is left, and the version moved once
    assert len(store.load_steps(key)) == 250 and store.load_state(key) == state
    assert store.load_header(key).version == 1
    items = aws.dynamodb.query(TableName=aws.workflows_table, KeyConditionExpression="pk = :k",
                               ExpressionAttributeValues={":k": {"S": key}})["Items"]
    assert not [i for i in items if i["sk"]["S"].startswith("journal#") or "pending" in i]


class CrashAfter:
    """The moto client, except that call number ``k`` (from 1) raises, as a Lambda dying there."""

    def __init__(self, client: Any, k: int):
        self.client, self.k, self.n = client, k, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kw: Any) -> Any:
            self.n += 1
            if self.n == self.k:
                raise RuntimeError(f"crash at call {self.k} ({name})")
            return method(**kw)
        return call


def test_a_journaled_commit_cut_short_at_any_call_is_seen_whole_or_not_at_all_and_repeats_cleanly(
        aws: AwsKit) -> None:
    steps = {f"s{i}": record(f"s{i}") for i in range(60)}
    state = {f"k{i}": f"{i:0100d}" for i in range(60)}  # most too large to ride in the header: items
    clean = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    k = 1
    while True:
        # Given a store whose k-th call of a 120-item commit (more than one transaction holds) crashes
        key = new_execution(clean)
        crashing = DynamoDBStore(aws.workflows_table, client=CrashAfter(aws.dynamodb, k))
        try:
            commit(crashing, key, steps=steps, state=state)
            finished = True
        except RuntimeError:
            finished = False
        # Then any reader sees the commit whole (it finishes it) or not at all
        h = clean.load_header(key)
        seen = clean.load_state(key)
        assert (h.version, len(seen), len(clean.load_steps(key))) in ((0, 0, 0), (1, 60, 60)), k
        # And repeating the transition from what was read ends exactly like a clean commit
        if h.version == 0:
            commit(clean, key, steps=steps, state=state)
        assert clean.load_state(key) == state and clean.load_steps(key) == steps
        assert clean.load_header(key).version == 1
        if finished:
            break
        k += 1
    assert k >= 6  # the crash was tried at every call: journal puts, header, pieces, cleanup


def test_a_commit_with_more_large_items_than_one_transaction_takes_raises_before_writing(
        store: DynamoDBStore) -> None:
    # 12 records of 380 KB compressed (random text): ten fill the first transaction, and two are too large to journal
    key = new_execution(store)
    steps = {f"s{i}": record(f"s{i}", inputs={"i": secrets.token_urlsafe(187_500)},
                             output={"o": secrets.token_urlsafe(187_500)}) for i in range(12)}
    with pytest.raises(CommitTooLargeError, match="items over 350,000 bytes than one DynamoDB transaction"):
        commit(store, key, steps=steps)
    assert store.load_steps(key) == {} and store.load_header(key).version == 0


def test_max_steps_per_commit_leaves_room_for_state_in_one_transaction(store: DynamoDBStore) -> None:
    key = new_execution(store)
    n = store.max_steps_per_commit
    commit(store, key, steps={f"s{i}": record(f"s{i}") for i in range(n)},
           state={f"k{i}": i for i in range(100 - 1 - n)})
    assert len(store.load_steps(key)) == n


def test_a_large_definition_is_stored_in_pieces_and_loads_back(aws: AwsKit, store: DynamoDBStore) -> None:
    # Given a 5,000-step spec that compresses to well over one 60 KB piece
    spec = {"steps": [{"op": f"s{i}", "fn": secrets.token_hex(48), "input": {"k": secrets.token_hex(32)}}
                      for i in range(5000)]}
    key = new_execution(store, spec)
    items = aws.dynamodb.query(TableName=aws.workflows_table, KeyConditionExpression="pk = :k",
                               ExpressionAttributeValues={":k": {"S": key}})["Items"]
    pieces = sorted(i["sk"]["S"] for i in items if i["sk"]["S"].startswith("def"))
    assert len(pieces) >= 2 and pieces[:2] == ["def", "def#0001"]
    assert store.load_definition(key).spec == spec


def test_load_snapshot_is_one_transact_get_items(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, steps={"a": record("a")}, state={"x": 1})
    calls = record_calls(aws.dynamodb)
    header, steps, state = store.load_snapshot(key, ["a", "b"], ["x", "y"])
    assert [op for op, _ in calls] == ["TransactGetItems"]
    assert header.version == 1 and list(steps) == ["a"] and state == {"x": 1}


def test_load_snapshot_of_more_than_100_items_reads_the_header_first(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, state={f"k{i}": i for i in range(60)})
    calls = record_calls(aws.dynamodb)
    _, steps, state = store.load_snapshot(key, [f"s{i}" for i in range(50)], [f"k{i}" for i in range(60)])
    assert [op for op, _ in calls] == ["GetItem", "BatchGetItem", "BatchGetItem"]
    assert steps == {} and len(state) == 60


def test_mark_sent_is_one_update_when_every_entry_matches(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    commit(store, key, unsent_add={f"s{i}": [1.0, 5.0] for i in range(20)})
    calls = record_calls(aws.dynamodb)
    store.mark_sent(key, {f"s{i}": 1 for i in range(20)})
    assert [op for op, _ in calls] == ["UpdateItem"]
    assert store.load_header(key).unsent == {}


def test_mark_sent_on_a_missing_execution_creates_nothing(store: DynamoDBStore) -> None:
    store.mark_sent("wf#missing", {"a": 1, "b": 2})
    assert not store.exists("wf#missing")
    with pytest.raises(ExecutionNotFoundError):
        store.load_header("wf#missing")


LARGE = "y" * 2_000  # a state entry too large to ride in the header: its item makes the commit a transaction


def test_commits_carry_a_client_request_token_so_sdk_retries_are_idempotent(
    aws: AwsKit, store: DynamoDBStore
) -> None:
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    commit(store, key, state={"x": LARGE})
    (params,) = [p for op, p in calls if op == "TransactWriteItems"]
    assert len(params["ClientRequestToken"]) == 36


@pytest.mark.parametrize("code", ["ConditionalCheckFailed", "TransactionConflict"])
def test_a_cancelled_commit_is_a_conflict(aws: AwsKit, store: DynamoDBStore, code: str) -> None:
    key = new_execution(store)
    failing = DynamoDBStore(aws.workflows_table, client=Failing(aws.dynamodb, transaction_cancelled("None", code)))
    with pytest.raises(ConflictError, match="changed since version 0"):
        commit(failing, key, state={"x": LARGE})


def test_other_commit_failures_propagate(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    failing = DynamoDBStore(aws.workflows_table, client=Failing(aws.dynamodb, transaction_cancelled("ThrottlingError")))
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        commit(failing, key, state={"x": LARGE})


def test_a_commit_of_the_header_alone_is_one_update_item_and_no_transaction(
        aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    commit(store, key, state={"x": 1})
    assert [op for op, _ in calls if op in ("UpdateItem", "TransactWriteItems")] == ["UpdateItem"]
    assert store.load_state(key) == {"x": 1} and store.load_header(key).version == 1


def test_a_header_update_that_lost_the_race_is_a_conflict(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    header = store.load_header(key)
    commit(store, key, state={"x": 1})  # another writer moves the header on
    stale = header.copy()
    stale.version += 1
    with pytest.raises(ConflictError, match="changed since version 0"):
        store.commit(key, Commit(expected_version=0, header=stale, state={"x": 2}))
    assert store.load_state(key) == {"x": 1}


class LostReply:
    """The moto client, except that the first UpdateItem of the header lands and then its reply is lost, and
    botocore sends it again (which the condition then refuses)."""

    def __init__(self, client: Any):
        self.client, self.lost = client, False

    def update_item(self, **kw: Any) -> Any:
        if not self.lost and kw.get("ConditionExpression", "").startswith("#v = :expected"):
            self.lost = True
            self.client.update_item(**kw)
        return self.client.update_item(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_header_update_whose_reply_was_lost_is_recognised_as_landed(aws: AwsKit, store: DynamoDBStore) -> None:
    key = new_execution(store)
    retried = DynamoDBStore(aws.workflows_table, client=LostReply(aws.dynamodb))
    commit(retried, key, state={"x": 1})
    assert store.load_header(key).version == 1 and store.load_state(key) == {"x": 1}


@pytest.mark.parametrize(("code", "raised"), [("TransactionConflictException", ConflictError),
                                              ("InternalServerError", ClientError)])
def test_a_header_update_held_by_a_transaction_is_a_conflict_and_other_failures_propagate(
        aws: AwsKit, store: DynamoDBStore, code: str, raised: type[Exception]) -> None:
    class Refusing:
        def update_item(self, **kw: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "UpdateItem")

        def __getattr__(self, name: str) -> Any:
            return getattr(aws.dynamodb, name)

    key = new_execution(store)
    with pytest.raises(raised):
        commit(DynamoDBStore(aws.workflows_table, client=Refusing()), key, state={"x": 1})


def test_create_retries_a_transaction_conflict(aws: AwsKit) -> None:
    store = DynamoDBStore(aws.workflows_table,
                          client=Failing(aws.dynamodb, transaction_cancelled("TransactionConflict"), times=2))
    key = new_execution(store, name="retried")
    assert store.find_by_name("retried") == key


def test_long_and_odd_ids_get_distinct_keys() -> None:
    from runfox_core.aws._keys import name_pk, state_sk, step_sk, task_sk

    assert step_sk("a") == "step#a" and state_sk("a") == "state#a" and task_sk("a", 3) == "a#3"
    long_a, long_b = "x" * 1100, "x" * 1099 + "y"
    assert step_sk(long_a) != step_sk(long_b) and len(step_sk(long_a).encode()) < 1024
    assert step_sk("~abc") != "step#~abc"  # a literal "~..." can never collide with a hashed id
    assert len(name_pk("n" * 3000).encode()) < 2048
    assert len(task_sk("t" * 2000, 12).encode()) <= 1024 and task_sk("t" * 2000, 12).endswith("#12")


def test_loading_records_that_do_not_exist_yet_costs_one_call(aws: AwsKit, store: DynamoDBStore) -> None:
    # The engine's common case: a step about to be claimed has no record yet.
    key = new_execution(store)
    calls = record_calls(aws.dynamodb)
    assert store.load_steps(key, ["never-claimed"]) == {}
    assert store.load_state(key, ["never-written"]) == {}
    assert [op for op, _ in calls] == ["BatchGetItem", "BatchGetItem"]
    with pytest.raises(ExecutionNotFoundError):
        store.load_steps("wf#missing", ["a"])


class ReplyLost:
    """The moto client, except that the header's PutItem is sent twice, as botocore retries a request
    whose reply was lost: the second finds the item the first wrote."""

    def __init__(self, client: Any):
        self.client = client

    def put_item(self, **kw: Any) -> Any:
        if kw["Item"]["sk"]["S"] == "header":
            self.client.put_item(**kw)
        return self.client.put_item(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_an_unnamed_create_is_two_plain_puts_the_definition_first(aws: AwsKit, store: DynamoDBStore) -> None:
    # When an execution without a name is created
    calls = record_calls(aws.dynamodb)
    key = new_execution(store)
    # Then its definition and then its header were put, each where nothing was, and no transaction ran
    assert [(op, p["Item"]["sk"]["S"]) for op, p in calls] == [("PutItem", "def"), ("PutItem", "header")]
    assert all(p["ConditionExpression"] == "attribute_not_exists(#pk)" for _, p in calls)
    assert store.load_header(key).version == 0 and store.load_definition(key).key == key


def test_a_create_whose_reply_was_lost_and_retried_succeeds(aws: AwsKit) -> None:
    # Given a store whose header put is sent again after it landed (a lost reply)
    store = DynamoDBStore(aws.workflows_table, client=ReplyLost(aws.dynamodb))
    # When it creates an execution, then it is created, not refused as existing
    key = new_execution(store)
    assert store.exists(key)
    # And a second create of that key is still refused
    with pytest.raises(ExecutionExistsError):
        store.create(store.load_definition(key), ExecutionHeader(status=WorkflowStatus.PENDING, version=0, remaining=1))


def test_a_create_that_died_after_its_definition_leaves_nothing_a_retry_trips_on(aws: AwsKit) -> None:
    # Given a create that put its definition and died before its header
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    d = ExecutionDefinition("wf", "e1", {"steps": []}, {}, "2024-01-01T00:00:00+00:00")
    dying = DynamoDBStore(aws.workflows_table, client=CrashAfter(aws.dynamodb, 2))
    with pytest.raises(RuntimeError):
        dying.create(d, ExecutionHeader(status=WorkflowStatus.PENDING, version=0, remaining=1))
    assert not store.exists(d.key)
    # When the create is tried again, with another definition under the same key
    again = ExecutionDefinition("wf", "e1", {"steps": [{"id": "a", "fn": "f"}]}, {}, "2024-01-01T00:00:00+00:00")
    store.create(again, ExecutionHeader(status=WorkflowStatus.PENDING, version=0, remaining=1))
    # Then the execution exists with the definition of the create that finished
    assert store.load_definition(d.key) == again
