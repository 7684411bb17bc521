"""Claims written ahead on DynamoDBStore: a claim whose inputs read only upstream outputs and the
workflow's inputs is one conditional PutItem before the fenced commit (1 write unit, not 2 inside the
transaction); a commit that loses leaves a record the next claim of that run reuses; nothing is ever
written ahead over a record past the claim; a claim that reads state stays in the transaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_kit import AwsKit
from botocore.exceptions import ClientError

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.engine.records import Commit, StepRecord
from runfox_core.errors import ConflictError
from runfox_core.status import StepStatus

CHAIN = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}}},
                   {"op": "b", "depends_on": ["a"], "input": {"x": {"var": "steps.a.output.x"}}}],
         "outputs": {"x": {"var": "steps.b.output.x"}}}


class Recording:
    """A DynamoDB client that notes each claim PutItem (step, landed?) and each transaction's keys, and
    can cancel the next ``lose`` transactions that update the header, as a concurrent commit would."""

    def __init__(self, client: Any, lose: int = 0) -> None:
        self._client, self.lose = client, lose
        self.puts: list[tuple[str, bool]] = []
        self.transactions: list[list[str]] = []

    def put_item(self, **kwargs: Any) -> Any:
        sk = kwargs["Item"]["sk"]["S"]
        try:
            resp = self._client.put_item(**kwargs)
        except ClientError:
            if sk.startswith("step#"):
                self.puts.append((sk, False))
            raise
        if sk.startswith("step#"):
            self.puts.append((sk, True))
        return resp

    def transact_write_items(self, **kwargs: Any) -> Any:
        keys = [next(iter(action.values()))["Key" if "Update" in action else "Item"]["sk"]["S"]
                for action in kwargs["TransactItems"]]
        if self.lose and "header" in keys:
            self.lose -= 1
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "lost the race"},
                               "CancellationReasons": [{"Code": "ConditionalCheckFailed"}]}, "TransactWriteItems")
        self.transactions.append(keys)
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def backend(aws: AwsKit, client: Any) -> rfx.Backend:
    return rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=client))


def record(aws: AwsKit, wf: rfx.Workflow, step: str) -> StepRecord:
    item = aws.dynamodb.get_item(TableName=aws.workflows_table,
                                 Key={"pk": {"S": wf.id}, "sk": {"S": f"step#{step}"}})["Item"]
    return StepRecord.from_dict(json.loads(item["record"]["S"]))


def test_a_claim_reading_only_upstream_outputs_is_written_ahead_and_its_commit_holds_the_rest(
        aws: AwsKit) -> None:
    # Given a chain a -> b on a store whose calls are recorded
    client = Recording(aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, backend(aws, client), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    # When a's result comes back and b is claimed in the same commit
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    (job_b,) = wf.advance().jobs
    # Then each claim was one PutItem that landed, and no transaction carried a claim
    assert client.puts == [("step#a", True), ("step#b", True)]
    assert ["header"] in client.transactions  # a's claim: the header alone
    # a's result, not b (its state entry x rides in the header: "Inline state")
    assert any(sorted(t) == ["header", "step#a"] for t in client.transactions)
    assert job_b.inputs == {"x": 2} and record(aws, wf, "b").status == StepStatus.IN_PROGRESS
    wf.on_step_result("b", {"x": 3}, run_id=job_b.run_id)
    assert wf.outcome == {"x": 3}


def test_a_claim_whose_commit_loses_leaves_a_record_the_next_claim_reuses_and_one_job_goes_out(
        aws: AwsKit) -> None:
    # Given the commit claiming b losing its race twice (its record already written ahead)
    client = Recording(aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, backend(aws, client), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    client.lose = 2
    # When the result is applied (the handle retries on fresh data until its commit lands)
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    jobs = wf.advance().jobs
    # Then the first put landed, the retries found the same claim in place, and b's job went out once
    assert [p for p in client.puts if p[0] == "step#b"] == [("step#b", True), ("step#b", False), ("step#b", False)]
    assert [(j.op, j.run_id, j.inputs) for j in jobs] == [("b", 0, {"x": 2})]
    wf.on_step_result("b", {"x": 3}, run_id=0)
    assert str(wf.status) == "complete" and wf.outcome == {"x": 3}


def test_a_claim_is_never_written_ahead_over_a_record_past_it(aws: AwsKit) -> None:
    # Given b claimed and completed at run 0, and a stale process holding the header from before b's claim
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, rfx.Backend(store=store), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    wf.on_step_result("a", {"x": 2}, run_id=job_a.run_id)
    stale = store.load_header(wf.id)
    (job_b,) = wf.advance().jobs
    wf.on_step_result("b", {"x": 3}, run_id=job_b.run_id)
    done = record(aws, wf, "b")
    assert done.status == StepStatus.COMPLETE and stale.ready.get("b") is not None
    # When the stale process commits its own claim of b at run 0 (with other inputs)
    claim = StepRecord(step_id="b", token="b", status=StepStatus.IN_PROGRESS, run_id=0, attempt=0, inputs={"x": 99})
    expected = stale.version
    stale.version = expected + 1
    with pytest.raises(ConflictError):
        store.commit(wf.id, Commit(expected_version=expected, header=stale, steps={"b": claim}, claims={"b"}))
    # Then b's record is still the completed one
    assert record(aws, wf, "b") == done


def test_the_retry_claimed_with_a_failed_attempt_is_not_written_over_the_attempt_still_in_progress(
        aws: AwsKit) -> None:
    # Given a's first attempt failing, and the commit that records it (and claims the retry) losing once
    client = Recording(aws.dynamodb)
    spec = {"steps": [{"op": "a", "max_attempts": 2, "retry": {"backoff_seconds": 0}}]}
    wf = rfx.Workflow.from_dict(spec, backend(aws, client))
    (job,) = wf.advance().jobs
    client.lose = 1
    wf.on_step_results([rfx.StepResult(wf.id, "a", job.run_id, error={"type": "E", "message": "boom"})],
                       claim_ready=True)
    # Then no claim of run 1 was written ahead over run 0 in progress: it went in the transaction
    assert client.puts[1:] == [("step#a", False), ("step#a", False)]  # refused, before and after the lost race
    assert sorted(client.transactions[-1]) == ["header", "step#a"]
    (retry,) = wf.advance().jobs
    assert retry.run_id == 1 and record(aws, wf, "a").run_id == 1
    wf.on_step_result("a", {"ok": True}, run_id=1)
    assert str(wf.status) == "complete"


def test_a_claim_that_reads_state_stays_in_the_transaction(aws: AwsKit) -> None:
    client = Recording(aws.dynamodb)
    spec = {"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"], "input": {"seen": {"var": "state.x"}}}]}
    wf = rfx.Workflow.from_dict(spec, backend(aws, client))
    (job_a,) = wf.advance().jobs
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 5})], claim_ready=True)
    assert "step#b" not in {sk for sk, _ in client.puts}
    assert any("step#b" in t for t in client.transactions)


def test_a_claim_left_behind_by_a_lost_commit_takes_no_result_and_the_next_claim_sends_one_job(
        aws: AwsKit) -> None:
    # Given b ready, and a process whose commit claiming b lost after writing b's record ahead
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, rfx.Backend(store=store), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    wf.on_step_result("a", {"x": 2}, run_id=job_a.run_id)
    stale = store.load_header(wf.id)
    expected = stale.version - 1  # a version already gone by: the fenced update fails
    stale.version = expected + 1
    claim = StepRecord(step_id="b", token="b", status=StepStatus.IN_PROGRESS, run_id=0, attempt=0, inputs={"x": 2})
    with pytest.raises(ConflictError):
        store.commit(wf.id, Commit(expected_version=expected, header=stale, steps={"b": claim}, claims={"b"}))
    assert record(aws, wf, "b").status == StepStatus.IN_PROGRESS  # left behind, while the header lists b ready
    # When an answer for b with no run_id arrives / Then it is not applied: b was never dispatched
    wf.on_step_result("b", {"x": 99})
    assert str(wf.status) == "in_progress"
    # And the next claim reuses the record and sends b's one job, which completes the run
    (job_b,) = wf.advance().jobs
    assert (job_b.run_id, job_b.inputs) == (0, {"x": 2})
    wf.on_step_result("b", {"x": 3}, run_id=0)
    assert wf.outcome == {"x": 3}
