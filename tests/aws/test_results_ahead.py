"""Map results records written ahead on DynamoDBStore ("Results slots ahead"): a commit's new results
record of two write units or more is one conditional PutItem before the fenced commit, whose
transaction then holds one item fewer; a slot holding another writer's orphan is overwritten inside
the transaction; a commit refused after its put reuses its own slot; and no put ahead ever writes
over a record a commit wrote (a lost race, two handles of one store, a retry after a lost reply),
so the results come back exact."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from aws_kit import AwsKit
from botocore.exceptions import ClientError

import runfox_core as rfx
from runfox_core.aws import _items as it
from runfox_core.aws.dynamodb_store import OWNER, DynamoDBStore
from runfox_core.results import Dispatch, DispatchJob, StepResult

SLOT = "step#sq:0:results:"


def spec(items: int) -> dict[str, Any]:
    return {"steps": [{"id": "sq", "map": {"items": list(range(items)), "fn": "square",
                                           "input": {"x": {"var": "item"}}}}],
            "outputs": {"results": {"var": "steps.sq.output.results"}}}


def value(index: int, size: int = 1500) -> str:
    """A result of ``size`` random bytes as hex: its record is about 1.6 KB compressed (2 write units)."""
    return random.Random(index).randbytes(size).hex()


def answer(job: DispatchJob, size: int = 1500) -> StepResult:
    assert job.item is not None
    return StepResult(job.execution_key, job.step, job.run_id, item=job.item, output={"v": value(job.item.index, size)})


class Recording:
    """A DynamoDB client that notes each results-slot PutItem (sk, landed?) and each commit's keys (a
    transaction's, or ``["header"]`` for a commit of the header alone);
    it can cancel the next ``lose`` header transactions (as a concurrent commit would), make the next
    ``lost_reply`` ones apply and then fail (the reply lost), and run ``before_put`` / ``before_commit``
    once, just before the next results-slot put or header transaction (another writer's turn)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.lose = self.lost_reply = 0
        self.before_put: Callable[[], None] | None = None
        self.before_commit: Callable[[], None] | None = None
        self.puts: list[tuple[str, bool]] = []
        self.transactions: list[list[str]] = []

    def put_item(self, **kwargs: Any) -> Any:
        sk = kwargs["Item"]["sk"]["S"]
        if not sk.startswith(SLOT):
            return self._client.put_item(**kwargs)
        if self.before_put is not None:
            turn, self.before_put = self.before_put, None
            turn()
        try:
            resp = self._client.put_item(**kwargs)
        except ClientError:
            self.puts.append((sk, False))
            raise
        self.puts.append((sk, True))
        return resp

    def update_item(self, **kwargs: Any) -> Any:
        """A commit of the header alone (one conditional UpdateItem, "Inline records") is a commit too."""
        if not kwargs.get("ConditionExpression", "").startswith("#v = :expected"):
            return self._client.update_item(**kwargs)  # not a commit (mark_sent, a renewal)
        lost = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "lost the race"}},
                           "UpdateItem")
        return self._commit(["header"], lost, lambda: self._client.update_item(**kwargs))

    def transact_write_items(self, **kwargs: Any) -> Any:
        keys = [next(iter(action.values()))["Key" if "Update" in action else "Item"]["sk"]["S"]
                for action in kwargs["TransactItems"]]
        if "header" not in keys:
            self.transactions.append(keys)
            return self._client.transact_write_items(**kwargs)
        lost = ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "lost the race"},
                            "CancellationReasons": [{"Code": "ConditionalCheckFailed"}]}, "TransactWriteItems")
        return self._commit(keys, lost, lambda: self._client.transact_write_items(**kwargs))

    def _commit(self, keys: list[str], lost: ClientError, apply: Callable[[], Any]) -> Any:
        """A header commit of ``keys``: another writer's turn first (``before_commit``), then lost the race
        (``lose``: ``lost`` raised, nothing applied) or applied, its reply perhaps lost (``lost_reply``)."""
        if self.before_commit is not None:
            turn, self.before_commit = self.before_commit, None
            turn()
        if self.lose:
            self.lose -= 1
            raise lost
        self.transactions.append(keys)
        resp = apply()
        if self.lost_reply:
            self.lost_reply -= 1
            raise ConnectionError("the reply was lost")
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def backend(aws: AwsKit, client: Any) -> rfx.Backend:
    return rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=client))


def started(aws: AwsKit, client: Any, items: int) -> tuple[rfx.Workflow, list[DispatchJob]]:
    wf = rfx.Workflow.from_dict(spec(items), backend(aws, client))
    dispatched = wf.advance()
    assert isinstance(dispatched, Dispatch)
    return wf, dispatched.jobs


def stored(aws: AwsKit, wf: rfx.Workflow, n: int) -> tuple[list[int], str | None]:
    """The jobs results record ``n`` holds, and the owner it was put ahead by (None: written in a transaction)."""
    item = aws.dynamodb.get_item(TableName=aws.workflows_table,
                                 Key={"pk": {"S": wf.id}, "sk": {"S": f"{SLOT}{n}"}})["Item"]
    return it.from_zjs(item["record"])["output"]["jobs"], item.get(OWNER, {}).get("S")


def exact(wf: rfx.Workflow, items: int, size: int = 1500) -> bool:
    return str(wf.status) == "complete" and wf.outcome == {"results": [{"v": value(i, size)} for i in range(items)]}


def test_a_results_record_of_two_write_units_is_put_ahead_and_its_commit_holds_the_rest(aws: AwsKit) -> None:
    # Given a map of three jobs whose results make records of about 1.6 KB compressed
    client = Recording(aws.dynamodb)
    wf, jobs = started(aws, client, 3)
    # When the results come back, one commit each
    for job in jobs:
        wf.on_step_results([answer(job)])
    # Then each commit's record was one PutItem that landed, and no transaction carried a record
    assert client.puts == [(f"{SLOT}{n}", True) for n in range(3)]
    assert not [t for t in client.transactions if any(k.startswith(SLOT) for k in t)]
    assert all(stored(aws, wf, n)[1] for n in range(3))  # each carries the token of its put
    assert exact(wf, 3)


def test_a_record_under_two_write_units_stays_in_the_transaction(aws: AwsKit) -> None:
    # Given a map whose results are 50 bytes (a record of one write unit)
    client = Recording(aws.dynamodb)
    wf, jobs = started(aws, client, 2)
    # When they come back / Then no put went ahead: the records are in the transactions, as before
    for job in jobs:
        wf.on_step_results([answer(job, size=25)])
    assert client.puts == []
    assert sum(1 for t in client.transactions for k in t if k.startswith(SLOT)) == 2
    assert exact(wf, 2, size=25)


def test_a_slot_holding_another_writers_orphan_is_overwritten_inside_the_transaction(aws: AwsKit) -> None:
    # Given a process that put job 1's record ahead at slot 0 and died before its commit
    dying = Recording(aws.dynamodb)
    wf, jobs = started(aws, dying, 2)

    def die() -> None:
        raise RuntimeError("the Lambda died")

    dying.before_commit = die
    with pytest.raises(RuntimeError):
        wf.on_step_results([answer(jobs[1])])
    assert dying.puts == [(f"{SLOT}0", True)] and stored(aws, wf, 0)[0] == [1]
    # When another process applies job 0's result (its store does not know the orphan)
    client = Recording(aws.dynamodb)
    other = rfx.Workflow.resume(wf.id, backend(aws, client))
    other.on_step_results([answer(jobs[0])])
    # Then its put was refused and the record went into its transaction, over the orphan
    assert client.puts == [(f"{SLOT}0", False)]
    assert any(f"{SLOT}0" in t for t in client.transactions)
    assert stored(aws, wf, 0) == ([0], None)
    # And job 1, answered again, takes the next slot: the results are exact
    other.on_step_results([answer(jobs[1])])
    assert exact(other, 2)


def test_a_commit_refused_after_its_put_reuses_its_own_slot_by_a_put(aws: AwsKit) -> None:
    # Given the commit applying job 0's result losing its race once, after its put ahead landed
    client = Recording(aws.dynamodb)
    wf, jobs = started(aws, client, 2)
    client.lose = 1
    # When the handle retries on fresh data (nothing else committed: the same slot)
    wf.on_step_results([answer(jobs[0])])
    # Then the retry's put overwrote its own orphan (it is known to be one) instead of the transaction
    assert client.puts == [(f"{SLOT}0", True), (f"{SLOT}0", True)]
    assert not [t for t in client.transactions if any(k.startswith(SLOT) for k in t)]
    wf.on_step_results([answer(jobs[1])])
    assert exact(wf, 2)


@pytest.mark.parametrize("shared", [False, True], ids=["two stores", "one store"])
@pytest.mark.parametrize("order", ["other commits first", "own put first"])
def test_a_lost_race_leaves_the_committed_record_intact_and_the_results_exact(aws: AwsKit, shared: bool,
                                                                              order: str) -> None:
    # Given two handles on one map (two processes, or two threads of one process sharing a store)
    client = Recording(aws.dynamodb)
    wf, jobs = started(aws, client, 3)
    loser = rfx.Workflow.resume(wf.id, wf.backend if shared else backend(aws, client))

    def other_commits() -> None:
        wf.on_step_results([answer(jobs[0])])

    # When the loser applies job 1 on the window it has read (no result yet: slot 0), and the other
    # commits job 0 at slot 0 just before the loser's put, or between its put and its commit
    if order == "other commits first":
        client.before_put = other_commits
    else:
        client.before_commit = other_commits
    loser.on_step_results([answer(jobs[1])])
    # Then slot 0 holds job 0 as committed (put ahead, or written over the loser's orphan inside the
    # transaction), and the loser's retry took slot 1
    committed, owner = stored(aws, wf, 0)
    assert committed == [0] and (owner is None) == (order == "own put first")
    assert stored(aws, wf, 1)[0] == [1]
    wf.on_step_results([answer(jobs[2])])
    assert exact(wf, 3) and stored(aws, wf, 0) == (committed, owner)


def test_a_retry_on_a_remembered_snapshot_after_a_lost_reply_never_rewrites_the_committed_slot(
        aws: AwsKit) -> None:
    # Given a handle whose commit of job 0's result (at slot 0) applied but whose reply was lost
    client = Recording(aws.dynamodb)
    wf, jobs = started(aws, client, 2)
    client.lost_reply = 1
    with pytest.raises(ConnectionError):
        wf.on_step_results([answer(jobs[0])])
    committed = stored(aws, wf, 0)
    assert committed[0] == [0]
    # When the same handle (same store, its snapshot still from before that commit) applies job 1
    wf.on_step_results([answer(jobs[1])])
    # Then its put at slot 0 was refused, its stale commit too, and its retry took slot 1
    assert client.puts == [(f"{SLOT}0", True), (f"{SLOT}0", False), (f"{SLOT}1", True)]
    assert stored(aws, wf, 0) == committed and stored(aws, wf, 1)[0] == [1]
    assert exact(wf, 2)
