"""Claims written ahead on DynamoDBStore: a claim (of a task or a wait for a time) whose inputs read only
upstream outputs and the workflow's inputs is one conditional PutItem before the fenced commit (1 write
unit, not 2 inside the transaction); a commit that loses leaves a record the next claim of that run
reuses; nothing is ever written ahead over a record past the claim; a claim that reads state stays in the
transaction, and so does the claim of a wait for an event or a callback, whose record keeps its waiting
event's id and a callback's nonce (``StepKind.draws_at_claim``). A claim left behind by a commit that
never landed (the previous release wrote a wait's claim ahead too) is not begun for any reader (an
answer, an event, describe): ``transitions.as_claimed``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_kit import AwsKit
from botocore.exceptions import ClientError

import runfox_core as rfx
from runfox_core import events, operations
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.engine import wait
from runfox_core.engine.records import Commit, StepRecord
from runfox_core.engine.transitions import iso
from runfox_core.errors import ConflictError
from runfox_core.status import StepStatus

CHAIN = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}}},
                   {"op": "b", "depends_on": ["a"], "input": {"x": {"var": "steps.a.output.x"}}}],
         "outputs": {"x": {"var": "steps.b.output.x"}}}


class ProcessDied(Exception):
    """The process making a call died there (the call never reached DynamoDB)."""


class Recording:
    """A DynamoDB client that notes each step PutItem (step, landed?) and each commit's keys (a transaction's,
    or ``["header"]`` for a commit of the header alone, one UpdateItem), and can refuse the next ``lose``
    commits, as a concurrent commit would, or stop at the next ``die`` of them, as a process that died
    before its commit would."""

    def __init__(self, client: Any, lose: int = 0, die: int = 0) -> None:
        self._client, self.lose, self.die = client, lose, die
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

    def update_item(self, **kwargs: Any) -> Any:
        if not kwargs.get("ConditionExpression", "").startswith("#v = :expected"):
            return self._client.update_item(**kwargs)  # not a commit (mark_sent, a renewal)
        if self.die:
            self.die -= 1
            raise ProcessDied("the process died before its commit")
        if self.lose:
            self.lose -= 1
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "lost the race"}},
                              "UpdateItem")
        self.transactions.append(["header"])
        return self._client.update_item(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        keys = [next(iter(action.values()))["Key" if "Update" in action else "Item"]["sk"]["S"]
                for action in kwargs["TransactItems"]]
        if self.die and "header" in keys:
            self.die -= 1
            raise ProcessDied("the process died before its commit")
        if self.lose and "header" in keys:
            self.lose -= 1
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "lost the race"},
                               "CancellationReasons": [{"Code": "ConditionalCheckFailed"}]}, "TransactWriteItems")
        self.transactions.append(keys)
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def backend(aws: AwsKit, client: Any, room: bool = True) -> rfx.Backend:
    return rfx.Backend(store=store_of(aws, client, room))


def store_of(aws: AwsKit, client: Any, room: bool = True) -> DynamoDBStore:
    """A store; ``room=False``: its header holds no records, so a claim that may go ahead does."""
    store = DynamoDBStore(aws.workflows_table, client=client)
    if not room:
        store.inline_record_bytes = 0
    return store


def record(aws: AwsKit, wf: rfx.Workflow, step: str) -> StepRecord:
    """``step``'s record as committed (its item, or the header's copy: "Inline records")."""
    return DynamoDBStore(aws.workflows_table, client=aws.dynamodb).load_steps(wf.id, [step])[step]


def item(aws: AwsKit, wf: rfx.Workflow, step: str) -> StepRecord:
    """``step``'s item, whatever the header holds."""
    found = aws.dynamodb.get_item(TableName=aws.workflows_table,
                                  Key={"pk": {"S": wf.id}, "sk": {"S": f"step#{step}"}})["Item"]
    return StepRecord.from_dict(json.loads(found["record"]["S"]))


def test_a_claim_reading_only_upstream_outputs_is_written_ahead_and_its_commit_holds_the_rest(
        aws: AwsKit) -> None:
    # Given a chain a -> b on a store whose calls are recorded
    client = Recording(aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, backend(aws, client), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    # When a's result comes back and b is claimed in the same commit
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    (job_b,) = wf.advance().jobs
    wf.backend.store.mark_sent(wf.id, {"b": job_b.run_id})  # b's job sent, as the runner confirms it
    # Then each claim was one PutItem that landed, and each commit was the header alone: a's result rode
    # in it ("Inline records"; its state entry x too: "Inline state") until b's job was sent, then was
    # put as its item (the third put)
    assert client.puts == [("step#a", True), ("step#b", True), ("step#a", True)]
    assert client.transactions == [["header"], ["header"]]
    assert item(aws, wf, "a").status == StepStatus.COMPLETE
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
    # Then no claim of run 1 was written ahead over run 0 in progress (not even tried: the engine read run 0
    # in progress): it went in the fenced commit (in the header, "Inline records"), and was put as its item
    # only once its job was sent
    assert client.puts[1:] == []
    assert item(aws, wf, "a").run_id == 0 and record(aws, wf, "a").run_id == 1
    (retry,) = wf.advance().jobs
    wf.backend.store.mark_sent(wf.id, {"a": retry.run_id})
    assert client.puts[-1] == ("step#a", True)
    assert retry.run_id == 1 and item(aws, wf, "a").run_id == 1
    wf.on_step_result("a", {"ok": True}, run_id=1)
    assert str(wf.status) == "complete"


def test_a_claim_that_reads_state_stays_in_the_transaction(aws: AwsKit) -> None:
    client = Recording(aws.dynamodb)
    spec = {"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"], "input": {"seen": {"var": "state.x"}}}]}
    wf = rfx.Workflow.from_dict(spec, backend(aws, client))
    (job_a,) = wf.advance().jobs
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 5})], claim_ready=True)
    # Then b's claim was not written ahead: it was committed inside the fenced commit (in the header)
    assert "step#b" not in {sk for sk, _ in client.puts}
    assert record(aws, wf, "b").status == StepStatus.IN_PROGRESS


def test_a_claim_left_behind_by_a_lost_commit_takes_no_result_and_the_next_claim_sends_one_job(
        aws: AwsKit) -> None:
    # Given b ready, and a process whose commit claiming b lost after writing b's record ahead
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    wf = rfx.Workflow.from_dict(CHAIN, rfx.Backend(store=store), inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    wf.on_step_result("a", {"x": 2}, run_id=job_a.run_id)
    claim = StepRecord(step_id="b", token="b", status=StepStatus.IN_PROGRESS, run_id=0, attempt=0, inputs={"x": 2})
    orphan_claim(aws, store, wf, claim, ready=True, job=True)
    assert record(aws, wf, "b").status == StepStatus.IN_PROGRESS  # left behind, while the header lists b ready
    # When an answer for b with no run_id arrives / Then it is not applied: b was never dispatched
    wf.on_step_result("b", {"x": 99})
    assert str(wf.status) == "in_progress"
    # And the next claim reuses the record and sends b's one job, which completes the run
    (job_b,) = wf.advance().jobs
    assert (job_b.run_id, job_b.inputs) == (0, {"x": 2})
    wf.on_step_result("b", {"x": 3}, run_id=0)
    assert wf.outcome == {"x": 3}


def test_an_answer_without_a_run_id_is_not_applied_to_a_claim_left_behind_with_its_dependencys_result(
        aws: AwsKit) -> None:
    # Given a process that wrote b's claim ahead and died before the commit applying a's result and claiming b
    client = Recording(aws.dynamodb)
    b = backend(aws, client)
    wf = rfx.Workflow.from_dict(CHAIN, b, inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    client.die = 1
    with pytest.raises(ProcessDied):
        wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    assert record(aws, wf, "b").status == StepStatus.IN_PROGRESS  # left behind; the header still runs a
    # When an answer for b with no run_id arrives / Then it is not applied: b was never claimed
    fresh = rfx.Workflow(wf.id, b)
    fresh.on_step_result("b", {"x": 99})
    assert fresh.step_statuses["b"] == StepStatus.READY and str(fresh.status) == "in_progress"
    # And a's result, delivered again, claims b at that run and sends its one job
    fresh.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    (job_b,) = fresh.advance().jobs
    assert (job_b.run_id, job_b.inputs) == (0, {"x": 2})
    assert client.puts[-1] == ("step#b", False)  # the claim found its record in place, as it had left it
    fresh.on_step_result("b", {"x": 3}, run_id=0)
    assert fresh.outcome == {"x": 3}


# ------------------------------------------------------------------ waits

WAIT_CHAIN = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}}},
                        {"id": "w", "depends_on": ["a"], "wait": {"event": "go"}},
                        {"op": "b", "depends_on": ["w"], "input": {"x": {"var": "steps.w.output.x"}}}],
              "outputs": {"x": {"var": "steps.b.output.x"}}}


@pytest.mark.parametrize("room", [True, False], ids=["header-with-room", "header-full"])
def test_a_wait_claim_rides_in_the_header_when_it_fits_and_in_the_commit_when_not(aws: AwsKit, room: bool) -> None:
    # Given a -> w (a wait for event go) -> b, on a store whose calls are recorded (whose header holds
    # records, or none)
    client = Recording(aws.dynamodb)
    b = backend(aws, client, room=room)
    wf = rfx.Workflow.from_dict(WAIT_CHAIN, b, inputs={"x": 1})
    (job_a,) = wf.advance().jobs
    # When a's result comes back and w's wait begins in the same commit
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {"x": 2})], claim_ready=True)
    if room:
        # Then nothing was put for w: its claim, a's result and x ride in the header's one UpdateItem
        # ("Inline records", "Inline state"), and no item is ever written for w's claim
        assert client.puts == [("step#a", True)] and client.transactions[-1] == ["header"]
    else:
        # Then w's claim is in the commit, never put ahead of it: its record keeps the id of its waiting
        # event, a position in that very commit (``WaitKind.draws_at_claim``)
        assert client.puts == [("step#a", True)] and "step#w" in client.transactions[-1]
    assert wf.step_statuses["w"] == StepStatus.IN_PROGRESS
    # And the event completes it, and the run goes on
    sent = events.send(b, wf.id, "go", {"x": 5}, "go-1")
    assert sent.receipt is not None and sent.receipt.disposition == "delivered"
    assert [(j.step, j.inputs) for j in sent.jobs] == [("b", {"x": 5})]
    wf.on_step_result("b", {"x": 6}, run_id=0)
    assert wf.outcome == {"x": 6}


@pytest.mark.parametrize(("deps", "before", "in_commit"), [
    (["a"], [], ["a"]),  # its only dependency: the header says nothing of w, a's record does
    (["a", "c"], ["c"], ["a"]),  # the last of two: the header counts w among its joins
    (["a", "c"], [], ["a", "c"]),  # both of two, in that one commit
], ids=["only-dependency", "last-of-two", "both-of-two"])
def test_an_event_sent_while_a_waits_claim_is_left_behind_with_its_dependencys_result_is_kept_not_delivered(
        aws: AwsKit, deps: list[str], before: list[str], in_commit: list[str]) -> None:
    # Given a claim of w left behind, as the previous release wrote a wait's claim ahead of the commit applying
    # the result(s) that make w ready (and beginning w), by a process that died before that commit (this
    # release's claim of a wait for an event is never written ahead: its record keeps its waiting event)
    spec = {"steps": [{"op": "a", "input": {"x": {"var": "input.x"}}}, {"op": "c"},
                      {"id": "w", "depends_on": deps, "wait": {"event": "go"}},
                      {"op": "b", "depends_on": ["w"], "input": {"x": {"var": "steps.w.output.x"}}}],
            "outputs": {"x": {"var": "steps.b.output.x"}}}
    store = store_of(aws, aws.dynamodb, room=False)
    b = rfx.Backend(store=store)
    wf = rfx.Workflow.from_dict(spec, b, inputs={"x": 1})
    jobs = {j.step: j for j in wf.advance().jobs}
    for sid in before:
        wf.on_step_result(sid, {}, run_id=jobs[sid].run_id)
    results = [rfx.StepResult(wf.id, sid, jobs[sid].run_id, {"x": 2} if sid == "a" else {}) for sid in in_commit]
    orphan_claim(aws, store, wf, StepRecord(step_id="w", token=b.plan(wf.id).steps["w"].token,
                                       status=StepStatus.IN_PROGRESS, inputs={}, start_time=iso(b.clock())))
    # When the event comes
    sent = events.send(b, wf.id, "go", {"x": 5}, "go-1")
    # Then it is kept for the wait to come (w did not begin), and describe shows w not begun
    assert sent.receipt is not None and sent.receipt.disposition == "kept" and sent.jobs == []
    view = operations.describe(b, wf.id)
    assert (view.step_statuses["a"], view.step_statuses["w"]) == (StepStatus.IN_PROGRESS, StepStatus.READY)
    # And the result(s), delivered again, begin w, which takes the kept event and claims b, once
    fresh = rfx.Workflow(wf.id, b)
    fresh.on_step_results(results, claim_ready=True)
    (job_b,) = fresh.advance().jobs
    assert (job_b.step, job_b.run_id, job_b.inputs) == ("b", 0, {"x": 5})
    fresh.on_step_result("b", {"x": 6}, run_id=0)
    if "c" not in before + in_commit:
        fresh.on_step_result("c", {}, run_id=jobs["c"].run_id)
    assert fresh.outcome == {"x": 6} and record(aws, fresh, "w").run_id == 0


def orphan_claim(aws: AwsKit, store: DynamoDBStore, wf: rfx.Workflow, claim: StepRecord, ready: bool = False,
                 job: bool = False) -> None:
    """Write ``claim`` ahead as a process whose commit then loses would: one whose last read of the header
    (as it is now) was at the version before, gone by, so the fenced update fails. ``ready``: its commit
    leaves the step in the ready set (as the header has it now); else takes it out, as a claim does.
    ``job``: a task's claim, whose commit also adds its unsent entry (a wait's sends no job)."""
    stale = store.load_header(wf.id)
    expected = stale.version - 1
    store._note_inline(wf.id, expected, *store._known_inline(wf.id, stale.version))  # (what rides in the header)
    stale.version = expected + 1
    if not ready:
        stale.ready.pop(claim.step_id, None)
    stale.updated_at = "2000-01-01T00:00:00+00:00"  # (as every commit does: not the header as it is now)
    with pytest.raises(ConflictError):
        store.commit(wf.id, Commit(expected_version=expected, header=stale, steps={claim.step_id: claim},
                                   claims={claim.step_id},
                                   unsent_add={claim.step_id: [claim.run_id, 0.0]} if job else {}))
    assert record(aws, wf, claim.step_id) == claim


def test_an_event_sent_while_a_ready_waits_claim_is_left_behind_by_a_lost_commit_is_kept_not_delivered(
        aws: AwsKit) -> None:
    # Given w ready (its own first step), and a claim of it written ahead by a commit that lost (as the previous
    # release wrote a wait's claim)
    store = store_of(aws, aws.dynamodb, room=False)  # (so a claim of w goes ahead)
    b = rfx.Backend(store=store)
    spec = {"steps": [{"id": "w", "wait": {"event": "go"}},
                      {"op": "b", "depends_on": ["w"], "input": {"x": {"var": "steps.w.output.x"}}}]}
    wf = rfx.Workflow.from_dict(spec, b)
    orphan_claim(aws, store, wf, StepRecord(step_id="w", token=b.plan(wf.id).steps["w"].token,
                                       status=StepStatus.IN_PROGRESS, inputs={}, start_time=iso(b.clock())))
    assert operations.describe(b, wf.id).step_statuses["w"] == StepStatus.READY  # the header still lists w ready
    # When the event comes / Then it is kept: nothing began
    sent = events.send(b, wf.id, "go", {"x": 5}, "go-1")
    assert sent.receipt is not None and sent.receipt.disposition == "kept"
    # And the claim of w that commits (in the same commit: it claims what is ready) takes it; b's job goes out once
    assert sent.jobs == [] and record(aws, wf, "w").status == StepStatus.COMPLETE
    (job_b,) = wf.advance().jobs
    assert (job_b.step, job_b.run_id, job_b.inputs) == ("b", 0, {"x": 5})
    wf.on_step_result("b", {"y": 1}, run_id=0)
    assert str(wf.status) == "complete"


def test_a_callback_retrys_claim_is_never_written_ahead_and_a_stale_or_forged_token_is_refused(aws: AwsKit) -> None:
    # Given a callback wait whose first attempt failed (retry in an hour), on a store whose header holds no
    # records (where a claim that may go ahead does)
    now = [1_800_000_000.0]
    client = Recording(aws.dynamodb)
    store = store_of(aws, client, room=False)
    b = rfx.Backend(store=store, clock=lambda: now[0])
    spec = {"steps": [{"id": "w", "wait": {"callback": True}, "max_attempts": 2,
                       "retry": {"backoff_seconds": 3600, "jitter": False}}]}
    wf = rfx.Workflow.from_dict(spec, b)
    wf.advance()
    first = operations.describe(b, wf.id).waiting["w"]["token"]
    operations.complete_callback(b, first, error={"type": "Rejected", "message": "not yet"})
    assert (record(aws, wf, "w").status, record(aws, wf, "w").run_id) == (StepStatus.RETRY, 1)
    # When the retry's commit loses its race once (as a concurrent commit would make it), then lands
    now[0] += 3600
    client.puts.clear()
    client.lose = 1
    rfx.Workflow(wf.id, b).advance()
    # Then its claim was never put ahead: the lost commit left nothing, the one that landed holds the
    # claim with its token's data
    assert client.lose == 0 and ("step#w", True) not in client.puts and ("step#w", False) not in client.puts
    claim = record(aws, wf, "w")
    assert (claim.status, claim.run_id) == (StepStatus.IN_PROGRESS, 1) and claim.callback is not None
    second = operations.describe(b, wf.id).waiting["w"]["token"]
    assert wait.parse_token(second)[3] == claim.callback["nonce"]
    # And the first attempt's token, and one for run 1 with the first attempt's nonce, are refused and change
    # nothing
    _, sid, _, nonce = wait.parse_token(first)
    for token in (first, wait.callback_token(wf.id, sid, 1, nonce)):
        with pytest.raises(events.EventRefusedError, match="not waiting any more"):
            events.answer(b, token, output={"ok": True})
    assert record(aws, wf, "w") == claim
    # while the retry's own token completes it
    events.answer(b, second, output={"ok": True})
    assert isinstance(rfx.Workflow(wf.id, b).advance(), rfx.Complete)


def test_a_timed_wait_ends_at_its_time_when_its_record_is_another_claimers_whose_clock_read_later(
        aws: AwsKit) -> None:
    # Given a wait of 60 s (with a 120 s step timeout) after a, and a claim of it written ahead by a process
    # whose clock read 5 s later than the router's, whose commit then lost
    now = [1_800_000_000.0]
    store = store_of(aws, aws.dynamodb, room=False)  # (so a claim of w goes ahead)
    b = rfx.Backend(store=store, clock=lambda: now[0])
    spec = {"steps": [{"op": "a"}, {"id": "w", "depends_on": ["a"], "wait": {"seconds": 60}, "timeout_seconds": 120}]}
    wf = rfx.Workflow.from_dict(spec, b)
    (job_a,) = wf.advance().jobs
    token = b.plan(wf.id).steps["w"].token
    orphan_claim(aws, store, wf, StepRecord(step_id="w", token=token, status=StepStatus.IN_PROGRESS, inputs={},
                                       start_time=iso(now[0] + 5)))
    # When the router's commit begins the wait (its claim finds that record in place and leaves it)
    wf.on_step_results([rfx.StepResult(wf.id, "a", job_a.run_id, {})], claim_ready=True)
    assert record(aws, wf, "w").start_time == iso(now[0] + 5)
    # Then at the time the router armed, the wait is over (read afresh, as the wake's invocation reads
    # it): its time came, not its timeout
    now[0] += 60
    assert isinstance(rfx.Workflow(wf.id, b).advance(), rfx.Complete)
    assert record(aws, wf, "w").status == StepStatus.COMPLETE
